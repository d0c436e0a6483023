// Referrers API (distribution-spec 1.1 "Listing Referrers").
import type Router from '@koa/router';
import { MediaType } from '../../oci/index.js';
import type { RegistryDeps } from '../registry-deps.js';
import { capture, digestParam, queryString, repositoryName } from '../route-params.js';

export const REFERRERS = /^\/v2\/(.+)\/referrers\/([^/]+)$/;

export function registerReferrers(router: Router, { storage }: RegistryDeps): void {
  router.get(REFERRERS, async (ctx) => {
    const name = repositoryName(ctx);
    const subject = digestParam(capture(ctx, 1));
    const artifactType = queryString(ctx, 'artifactType');
    let manifests = await storage.manifests.referrers(name, subject);
    if (artifactType !== undefined) {
      manifests = manifests.filter((d) => d.artifactType === artifactType);
      ctx.set('OCI-Filters-Applied', 'artifactType');
    }
    ctx.status = 200;
    ctx.type = MediaType.OciIndex;
    ctx.body = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests });
  });
}
