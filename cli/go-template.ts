// docker's --format for list and inspect commands: the `{{.Field}}` placeholders of a Go template
// (the subset people type: fields, nested ones like `{{.State.Health.Status}}`, `{{json .}}`,
// `{{json .Field}}`, a leading `table` for a header row, `\t`).
// Anything else in braces is an error naming it, never silently printed.
import { UsageError } from '../engine/containers/run-options.js';

/** `{{.Field}}`, `{{.A.B}}`, `{{json .X}}`, `{{json .}}`. */
const FIELD = /\{\{\s*(json\s+)?\.((?:[A-Za-z][A-Za-z0-9_]*)(?:\.[A-Za-z][A-Za-z0-9_]*)*|)\s*\}\}/g;

export function renderTemplate(template: string, rows: Record<string, unknown>[]): string {
  let t = template.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const isTable = /^table\s/.test(t);
  if (isTable) t = t.replace(/^table\s+/, '');
  const fill = (row: Record<string, unknown> | undefined) =>
    t.replace(FIELD, (_m, json: string | undefined, path: string) => {
      const [field = '', ...deeper] = path.split('.');
      if (!row) return field.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
      if (field !== '' && !(field in row)) throw new UsageError(`--format: no field ${field} (${Object.keys(row).join(', ')})`);
      let v: unknown = field === '' ? row : row[field];
      // `.State.Health.Status` (inspect's nesting): Go prints <no value> for what is not there.
      for (const key of deeper) {
        if (v === null || typeof v !== 'object' || !(key in v)) return json ? 'null' : '<no value>';
        v = (v as Record<string, unknown>)[key];
      }
      if (json) return JSON.stringify(v);
      return v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v ?? '');
    });
  const rest = t.replace(FIELD, '');
  const bad = /\{\{[^}]*\}\}/.exec(rest);
  if (bad) throw new UsageError(`--format: unsupported template ${bad[0]} (fields like {{.Names}}, {{json .}})`);
  const lines = rows.map((r) => fill(r));
  if (isTable) lines.unshift(fill(undefined));
  return lines.map((l) => `${l}\n`).join('');
}
