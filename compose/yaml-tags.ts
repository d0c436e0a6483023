// The compose merge tags: `!reset` removes an attribute set by an earlier file, `!override`
// replaces it whole instead of merging. They are kept as markers through interpolation and
// resolved by the merge.
import type { Tags } from 'yaml';

export class MergeTag {
  constructor(
    readonly tag: 'reset' | 'override',
    readonly value: unknown,
  ) {}
}

export function isTag(v: unknown): v is MergeTag {
  return v instanceof MergeTag;
}

/** Custom tags for the `yaml` parser. */
export const composeTags: Tags = (['reset', 'override'] as const).flatMap((tag) =>
  (['map', 'seq', 'scalar'] as const).map((collection) => ({
    tag: `!${tag}`,
    ...(collection === 'scalar' ? {} : { collection }),
    resolve: (value: unknown) => new MergeTag(tag, toJS(value)),
    identify: () => false,
  })),
) as unknown as Tags;

function toJS(v: unknown): unknown {
  const node = v as { toJSON?: () => unknown };
  return typeof node?.toJSON === 'function' ? node.toJSON() : v;
}
