// Reading small request bodies (manifests) whole, with a hard size limit.
import type { Context } from 'koa';
import { RegistryError } from './errors.js';

export async function readBoundedBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = ctx.get('Content-Length');
  if (declared !== '' && Number(declared) > limit) {
    throw new RegistryError('SIZE_INVALID', `manifest is larger than the ${limit}-byte limit`, { limit }, 413);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of ctx.req) {
    total += (chunk as Buffer).length;
    if (total > limit) {
      throw new RegistryError('SIZE_INVALID', `manifest is larger than the ${limit}-byte limit`, { limit }, 413);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}
