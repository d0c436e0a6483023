// Runs in every test file before its tests (vitest's setupFiles). Its afterAll is registered
// first, so it runs after the file's own: what the file's servers left behind goes last.
import { afterAll } from 'vitest';
import { cleanUpStevedores } from './helpers/stevedore-process.js';

afterAll(cleanUpStevedores);
