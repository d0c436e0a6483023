// The CNI invoker against stand-in plugins (shell scripts that record what they were given): the
// spec's environment and stdin, prevResult chaining, DEL in reverse with the ADD result, the
// spec's error format, and the roll-back of a list that fails half-way, which the real plugins
// cannot be made to do on demand.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addList, checkList, delList, type NetConfList } from './cni.js';

let dir: string;
const saved = process.env.STEVEDORE_CNI_PATH;

// Each plugin appends "TYPE COMMAND IFNAME prevResult-ips" to calls.log; `ok` answers ADD with a
// result naming itself, `bad` fails with the spec's error JSON.
const plugin = (body: string) => `#!/bin/sh
conf=$(cat)
prev=$(printf '%s' "$conf" | grep -o '"prevResult":{[^}]*}' | grep -o 'from-[a-z]*' | tr '\\n' ' ')
echo "$(basename "$0") $CNI_COMMAND $CNI_IFNAME $CNI_CONTAINERID $CNI_NETNS [$prev]" >> "$(dirname "$0")/calls.log"
${body}
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cni-test-'));
  const ok = plugin(`[ "$CNI_COMMAND" = ADD ] && printf '{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.2/24","note":"from-%s"}]}' "$(basename "$0")"; exit 0`);
  for (const name of ['one', 'two', 'bridge', 'host-local']) await writeFile(join(dir, name), ok);
  await writeFile(join(dir, 'bad'), plugin(`[ "$CNI_COMMAND" = DEL ] && exit 0; echo '{"code":11,"msg":"no luck","details":"try later"}'; exit 1`));
  for (const name of ['one', 'two', 'bad', 'bridge', 'host-local']) await chmod(join(dir, name), 0o755);
  process.env.STEVEDORE_CNI_PATH = dir;
});

afterAll(async () => {
  if (saved === undefined) delete process.env.STEVEDORE_CNI_PATH;
  else process.env.STEVEDORE_CNI_PATH = saved;
  await rm(dir, { recursive: true, force: true });
});

const calls = async () => (await readFile(join(dir, 'calls.log'), 'utf8').catch(() => '')).trim().split('\n');
const inv = { containerId: 'c1', netns: '/run/netns/x', ifName: 'eth0' };
const list = (...types: string[]): NetConfList => ({ cniVersion: '1.0.0', name: 'n', plugins: types.map((type) => ({ type })) });

describe('CNI lists', () => {
  it('ADD chains prevResult, DEL runs in reverse with the final result, CHECK in order', async () => {
    await rm(join(dir, 'calls.log'), { force: true });
    const result = await addList(list('one', 'two'), inv);
    expect(result.ips?.[0]).toMatchObject({ address: '10.9.0.2/24', note: 'from-two' });
    await checkList(list('one', 'two'), inv, result);
    await delList(list('one', 'two'), inv, result);
    expect(await calls()).toEqual([
      'one ADD eth0 c1 /run/netns/x []',
      'two ADD eth0 c1 /run/netns/x [from-one ]',
      'one CHECK eth0 c1 /run/netns/x [from-two ]',
      'two CHECK eth0 c1 /run/netns/x [from-two ]',
      'two DEL eth0 c1 /run/netns/x [from-two ]',
      'one DEL eth0 c1 /run/netns/x [from-two ]',
    ]);
  });

  it('a failing plugin is one error with the spec\'s msg and details; what was added is deleted again', async () => {
    await rm(join(dir, 'calls.log'), { force: true });
    await expect(addList(list('one', 'bad', 'two'), inv)).rejects.toMatchObject({ reason: 'plugin', message: 'CNI plugin bad ADD failed: no luck: try later' });
    expect(await calls()).toEqual(['one ADD eth0 c1 /run/netns/x []', 'bad ADD eth0 c1 /run/netns/x [from-one ]', 'bad DEL eth0 c1 /run/netns/x [from-one ]', 'one DEL eth0 c1 /run/netns/x [from-one ]']);
  });

  it('DEL without a namespace runs the bridge\'s IPAM plugin directly (all bridge does then); with one, the bridge', async () => {
    await rm(join(dir, 'calls.log'), { force: true });
    const bridged: NetConfList = { cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'bridge', ipam: { type: 'host-local' } }, { type: 'one' }] };
    await delList(bridged, { ...inv, netns: '' });
    await delList(bridged, inv);
    expect(await calls()).toEqual(['one DEL eth0 c1  []', 'host-local DEL eth0 c1  []', 'one DEL eth0 c1 /run/netns/x []', 'bridge DEL eth0 c1 /run/netns/x []']);
  });

  it('a missing plugin names the Debian package', async () => {
    await expect(addList(list('nonexistent'), inv)).rejects.toMatchObject({ reason: 'missing-plugin', message: expect.stringMatching(/containernetworking-plugins/) });
  });
});
