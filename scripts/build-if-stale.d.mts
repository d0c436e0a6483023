export const STAMP: string;
export function newestSource(root?: string): number;
export function isStale(root?: string): boolean;
export function buildIfStale(opts?: { root?: string; log?: (line: string) => void }): boolean;
