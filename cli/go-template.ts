// docker's --format for list commands: the `{{.Field}}` placeholders of a Go template (the subset
// people type: fields, `{{json .}}`, `{{json .Field}}`, a leading `table` for a header row, `\t`).
// Anything else in braces is an error naming it, never silently printed.
import { UsageError } from '../engine/containers/run-options.js';

export function renderTemplate(template: string, rows: Record<string, unknown>[]): string {
  let t = template.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  const isTable = /^table\s/.test(t);
  if (isTable) t = t.replace(/^table\s+/, '');
  const fill = (row: Record<string, unknown> | undefined) =>
    t.replace(/\{\{\s*(json\s+)?\.([A-Za-z]*)\s*\}\}/g, (_m, json: string | undefined, field: string) => {
      if (!row) return field.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
      const v = field === '' ? row : row[field];
      if (field !== '' && !(field in row)) throw new UsageError(`--format: no field ${field} (${Object.keys(row).join(', ')})`);
      return json ? JSON.stringify(v) : String(v ?? '');
    });
  const rest = t.replace(/\{\{\s*(json\s+)?\.[A-Za-z]*\s*\}\}/g, '');
  const bad = /\{\{[^}]*\}\}/.exec(rest);
  if (bad) throw new UsageError(`--format: unsupported template ${bad[0]} (fields like {{.Names}}, {{json .}})`);
  const lines = rows.map((r) => fill(r));
  if (isTable) lines.unshift(fill(undefined));
  return lines.map((l) => `${l}\n`).join('');
}
