// Byte ranges of blob GETs (RFC 9110 §14) and upload chunks (`Content-Range: <start>-<end>`).

export type RangeResult = { start: number; end: number } | 'unsatisfiable' | undefined;

/**
 * Parses a `Range` request header against a blob size. Returns undefined when the header is
 * absent or not a single byte range (the whole blob is then sent, as RFC 9110 allows).
 */
export function parseRangeHeader(header: string | undefined, size: number): RangeResult {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  if (start >= size) return 'unsatisfiable';
  let end = m[2] === '' ? size - 1 : Number(m[2]);
  if (end < start) return undefined;
  if (end >= size) end = size - 1;
  return { start, end };
}

/** Parses an upload chunk's `Content-Range: <start>-<end>` (also accepts a `bytes ` prefix). */
export function parseContentRange(header: string | undefined): { start: number; end: number } | 'invalid' | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) return 'invalid';
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start || !Number.isSafeInteger(end)) return 'invalid';
  return { start, end };
}
