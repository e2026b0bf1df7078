# Roster: API, live channel and console in one Node process.
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY server/package.json server/
COPY web/package.json web/
RUN npm ci --include=dev
COPY . .
RUN npm run build
USER node
EXPOSE 3000
CMD ["node_modules/.bin/tsx", "server/src/main.ts"]
