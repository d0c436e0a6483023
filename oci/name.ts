// Repository names and tags (distribution-spec "Pulling manifests" grammar).

// <name> path components; the spec's regular expression.
const NAME_GRAMMAR = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_GRAMMAR = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Docker and distribution cap the whole name at 255 characters. */
export const MAX_NAME_LENGTH = 255;

export function isValidRepositoryName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && NAME_GRAMMAR.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG_GRAMMAR.test(tag);
}

export function repositoryNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'repository name is empty';
  if (name.length > MAX_NAME_LENGTH) return `repository name is longer than ${MAX_NAME_LENGTH} characters`;
  if (!NAME_GRAMMAR.test(name)) return 'repository name must match [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)*';
  return undefined;
}
