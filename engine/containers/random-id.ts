// Container ids and names: random hex from util/random-hex.ts (the one copy).
export { randomHex } from '../../util/random-hex.js';
