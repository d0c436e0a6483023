// Saving and removing credentials the way `docker login` / `docker logout` do: in config.json's
// `auths` (base64 `auth`, or `identitytoken`), or through the configured credential helper.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { registryKeys, type Credentials } from './credentials.js';

interface ConfigFile {
  auths?: Record<string, Record<string, unknown>>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [k: string]: unknown;
}

function read(path: string): ConfigFile {
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ConfigFile;
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}

function helperCall(helper: string, verb: 'store' | 'erase', input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // node:child_process only when a helper runs: loading it costs ~3 ms of every registry command's start-up.
    const child = process.getBuiltinModule('node:child_process').spawn(`docker-credential-${helper}`, [verb], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', (err) => reject(new Error(`credential helper docker-credential-${helper}: ${err.message}`)));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker-credential-${helper} ${verb} failed: ${out.trim().split('\n')[0]}`))));
    child.stdin.end(input);
  });
}

/** The key Docker writes for a registry (Docker Hub keeps its historic v1 URL). */
function storeKey(registry: string): string {
  return registryKeys(registry)[0]!;
}

export async function saveCredentials(configPath: string, registry: string, creds: Credentials): Promise<string> {
  const cfg = read(configPath);
  const key = storeKey(registry);
  const helper = cfg.credHelpers?.[key] ?? cfg.credHelpers?.[registry] ?? cfg.credsStore;
  cfg.auths ??= {};
  if (helper) {
    const username = creds.identityToken ? '<token>' : (creds.username ?? '');
    await helperCall(helper, 'store', JSON.stringify({ ServerURL: key, Username: username, Secret: creds.identityToken ?? creds.password ?? '' }));
    cfg.auths[key] = {};
  } else if (creds.identityToken) {
    cfg.auths[key] = { auth: Buffer.from(`${creds.username ?? ''}:`).toString('base64'), identitytoken: creds.identityToken };
  } else {
    cfg.auths[key] = { auth: Buffer.from(`${creds.username ?? ''}:${creds.password ?? ''}`).toString('base64') };
  }
  await mkdir(dirname(configPath), { recursive: true, mode: 0o700 });
  await writeFileAtomic(configPath, `${JSON.stringify(cfg, null, '\t')}\n`, { mode: 0o600 }); // base64 passwords: the user's only, as docker writes it
  return helper ? `docker-credential-${helper}` : configPath;
}

/** Removes stored credentials; false when there were none. */
export async function removeCredentials(configPath: string, registry: string): Promise<boolean> {
  const cfg = read(configPath);
  const keys = registryKeys(registry).filter((k) => cfg.auths?.[k] !== undefined);
  const helper = cfg.credHelpers?.[storeKey(registry)] ?? cfg.credHelpers?.[registry] ?? cfg.credsStore;
  if (keys.length === 0 && !helper) return false;
  if (helper) await helperCall(helper, 'erase', storeKey(registry)).catch(() => undefined);
  for (const k of keys) delete cfg.auths![k];
  if (keys.length > 0) await writeFileAtomic(configPath, `${JSON.stringify(cfg, null, '\t')}\n`, { mode: 0o600 }); // base64 passwords: the user's only, as docker writes it
  return keys.length > 0 || !!helper;
}
