import { describe, expect, it } from 'vitest';
import { renderTemplate } from './go-template.js';

describe('--format templates', () => {
  const rows = [{ Names: 'a', Status: 'Up 1 second', ID: '0123' }, { Names: 'b', Status: 'Exited (0)', ID: '4567' }];
  it('fields, json, table headers and tabs', () => {
    expect(renderTemplate('{{.Names}} {{.Status}}', rows)).toBe('a Up 1 second\nb Exited (0)\n');
    expect(renderTemplate('{{json .Names}}', rows)).toBe('"a"\n"b"\n');
    expect(renderTemplate('table {{.ID}}\\t{{.Names}}', rows)).toBe('ID\tNAMES\n0123\ta\n4567\tb\n');
    expect(renderTemplate('{{json .}}', rows.slice(0, 1))).toBe(`${JSON.stringify(rows[0])}\n`);
  });
  it('nested fields, as inspect --format uses them', () => {
    const c = [{ Name: 'web', State: { Status: 'running', Health: { Status: 'healthy', Log: [] } }, Labels: {} }];
    expect(renderTemplate('{{.State.Health.Status}} {{.Name}}', c)).toBe('healthy web\n');
    expect(renderTemplate('{{json .State.Health}}', c)).toBe('{"Status":"healthy","Log":[]}\n');
    expect(renderTemplate('{{.State.Nope.Deeper}}', c)).toBe('<no value>\n');
    expect(() => renderTemplate('{{.Nope.Status}}', c)).toThrow(/no field Nope/);
  });
  it('an unknown field or template construct is an error, not output', () => {
    expect(() => renderTemplate('{{.Nope}}', rows)).toThrow(/no field Nope/);
    expect(() => renderTemplate('{{if .Names}}x{{end}}', rows)).toThrow(/unsupported template/);
  });
});
