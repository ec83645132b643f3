import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // .tmp: git-ignored scratch (test reports, local probes)
  { ignores: ['dist/', 'node_modules/', '.toolchain/', 'test/envtest/', 'charts/', 'coverage/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**', 'src/main/**', 'src/truetask-sim/main.ts', 'src/config/**'],
    rules: {
      // Side effects live at the edges: only cli/main read the environment.
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read configuration in src/cli or src/config and pass it down.' }],
    },
  },
  {
    files: ['test/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts', 'src/cli/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
