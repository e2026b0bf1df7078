# Roster: API, live channel and console in one Node process.

# Build: the console (Vite) and the server bundle (esbuild) need the development dependencies.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY server/package.json server/
COPY web/package.json web/
COPY scripts/patch-postgres.mjs scripts/
RUN npm ci
COPY . .
RUN node scripts/build.mjs --force

# Run: production dependencies, the server bundle and the built console; no TypeScript, no tools.
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY server/package.json server/
COPY web/package.json web/
COPY scripts/patch-postgres.mjs scripts/
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/server/dist server/dist
COPY --from=build /app/web/build web/build
USER node
EXPOSE 3000
CMD ["node", "server/dist/main.js"]
