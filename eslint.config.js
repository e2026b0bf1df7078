// The lint run by `npm test` (before the type check and vitest): the recommended rules of ESLint,
// typescript-eslint and eslint-plugin-svelte, plus the layering of the server (http → services →
// data) and of the workspaces, which is what the import graph must keep showing.
import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import ts from 'typescript-eslint';
import svelteConfig from './web/svelte.config.js';

/** `no-restricted-imports` patterns: a module of this layer may not import from these folders. */
function forbid(folders, message) {
  return { group: folders.flatMap((folder) => [`**/${folder}`, `**/${folder}/**`]), message };
}

export default ts.config(
  { ignores: ['**/node_modules/', 'web/build/', 'web/.svelte-kit/', 'server/dist/', 'test-results/', '.roster/'] },
  js.configs.recommended,
  ts.configs.recommended,
  svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // `_name` marks what is unused on purpose: a destructured field left out, a required parameter.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none' }],
      eqeqeq: ['error', 'smart'],
      'no-var': 'error',
      // A `let` read by a closure before its one assignment (late binding) stays a `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['web/**/*.{ts,js,svelte}'],
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      // The console is served at the root (no `paths.base`), so resolve() would change no link.
      'svelte/no-navigation-without-resolve': 'off',
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: {
      parserOptions: { parser: ts.parser, extraFileExtensions: ['.svelte'], svelteConfig },
    },
    rules: {
      // Svelte's own version knows that `let { … } = $props()` is how props are declared.
      'prefer-const': 'off',
      'svelte/prefer-const': 'error',
      // Collections in $state are replaced, never changed in place, and the other Sets and Maps are
      // local lookups: reactive SvelteSet/SvelteMap would track what nobody reads.
      'svelte/prefer-svelte-reactivity': 'off',
    },
  },
  {
    // Type-level code: `{}` is "nothing more" in an intersection and "all optional" in `{} extends T`.
    files: ['shared/src/api.ts'],
    rules: { '@typescript-eslint/no-empty-object-type': ['error', { allowObjectTypes: 'always' }] },
  },

  // Layers. Nothing below http/ imports from it (services, data, auth, live, oidc and the shared
  // modules at server/src's root); data/ is the bottom of the server; shared/ stands alone.
  {
    files: ['server/src/**/*.ts'],
    ignores: ['server/src/http/**', 'server/src/app.ts', 'server/src/server.ts', 'server/src/main.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [forbid(['http'], 'Only app.ts wires http/: layers below it (services, data, auth, live, oidc) must not import from it.')] }],
    },
  },
  {
    files: ['server/src/services/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [forbid(['http', 'live'], 'Services are called from above (http/, live/); they must not import from there.')] }],
    },
  },
  {
    files: ['server/src/data/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [forbid(['http', 'services', 'live', 'oidc', 'auth'], 'data/ is the bottom layer: SQL shared by services, importing none of them.')] }],
    },
  },
  {
    files: ['server/src/http/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ ...forbid(['data'], 'Routes call services; only types may come from data/.'), allowTypeImports: true }] }],
    },
  },
  {
    files: ['shared/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [forbid(['server/src', 'web/src', 'test'], 'shared/ is imported by the server, the console and tests, and imports none of them.')] }],
    },
  },
  {
    files: ['web/src/**/*.{ts,svelte}'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [forbid(['server/src', 'test'], 'The console reaches the server through the API only.')] }],
    },
  },

  // Tests talk to the API with payloads they build to be wrong on purpose.
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // Bad inputs are typed `any` on purpose: the point is what the server does with a body its schema forbids.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
