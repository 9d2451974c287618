/**
 * The struct layouts and the opcode table against the kernel's own header.
 *
 * A C program that #includes <linux/fuse.h> is generated, compiled with `cc`
 * and run; it prints sizeof/offsetof of every struct and field the header and
 * layouts.ts have in common, and the opcode and notification numbers. Without
 * a C compiler or the header these tests are skipped (with the reason), never
 * passed. Structs newer than the installed header are checked against the
 * sizes documented upstream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as L from './layouts.js';
import { layoutOf, offsetOf, type FieldSpec, type Fields, type StructDef } from './struct.js';
import { ops, notifications } from './opcodes.js';

// ---- the TS side ----------------------------------------------------------------------

function isStruct(v: unknown): v is StructDef<Fields> {
  return typeof v === 'object' && v !== null && 'fields' in v && 'size' in v && typeof (v as { decode?: unknown }).decode === 'function';
}

const tsStructs: StructDef<Fields>[] = (Object.values(L) as unknown[]).filter(isStruct);

/** camelCase → snake_case, as the header spells field names. */
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** FUSE_BATCH_FORGET → batchForget */
const camel = (s: string) => s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Field names that differ from the header other than by case style. */
const renamed: Record<string, Record<string, string>> = {
  fuse_sx_time: { sec: 'tv_sec', nsec: 'tv_nsec' },
  fuse_supp_groups: { nr: 'nr_groups' },
};
/** Fields puffs knows that were carved out of padding by protocol versions newer than some headers. */
const carvedFromPadding: Record<string, readonly string[]> = {
  fuse_open_out: ['backingId'], // 7.40
  fuse_init_out: ['maxStackDepth', 'requestTimeout'], // 7.40, 7.43
};
/** TS structs that are not (or not yet, in an old header) kernel structs, with their documented sizes. */
const notInOldHeaders: Record<string, number> = {
  // Upstream (7.39+) sizes, from include/uapi/linux/fuse.h.
  fuse_sx_time: 16,
  fuse_statx: 256,
  fuse_statx_in: 24,
  fuse_statx_out: 288,
  fuse_copy_file_range_out: 8, // 7.45
  fuse_notify_prune_out: 16, // 7.45
  fuse_supp_groups: 4, // 7.39, followed by uint32_t groups[]
  // Not kernel structs: the compat setxattr argument and one element of prune's uint64_t nodeids[].
  fuse_setxattr_in_compat: 8,
  fuse_prune_nodeid: 8,
};

// ---- the header side ------------------------------------------------------------------

interface CField {
  name: string;
  type: string;
  /** Array bound: undefined for scalars, '' for a flexible array member. */
  bound?: string;
}

const stripComments = (s: string) => s.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');

/** Struct bodies of the header; null when a body is too complex for this little parser. */
function parseStructs(text: string): Map<string, CField[] | null> {
  const out = new Map<string, CField[] | null>();
  const src = stripComments(text);
  for (const m of src.matchAll(/\bstruct\s+(\w+)\s*\{/g)) {
    const name = m[1]!;
    const start = m.index! + m[0].length;
    const close = src.indexOf('}', start);
    const body = src.slice(start, close);
    if (body.includes('{')) {
      out.set(name, null);
      continue;
    }
    const fields: CField[] = [];
    let ok = true;
    for (const decl of body.split(';').map((d) => d.trim().replace(/\s+/g, ' '))) {
      if (!decl) continue;
      const d = /^(?:const )?((?:struct|union) \w+|\w+) (\w+) ?(?:\[([^\]]*)\])?$/.exec(decl);
      if (!d) {
        ok = false;
        break;
      }
      fields.push({ type: d[1]!, name: d[2]!, bound: d[3] });
    }
    out.set(name, ok ? fields : null);
  }
  return out;
}

function parseEnum(text: string, enumName: string): Map<string, number> {
  const out = new Map<string, number>();
  const m = new RegExp(`enum\\s+${enumName}\\s*\\{([^}]*)\\}`).exec(stripComments(text));
  if (!m) return out;
  let next = 0;
  for (const entry of m[1]!.split(',').map((e) => e.trim())) {
    if (!entry) continue;
    const e = /^(\w+)\s*(?:=\s*(.+))?$/.exec(entry);
    if (!e) throw new Error(`cannot parse enum ${enumName} entry ${JSON.stringify(entry)}`);
    const value = e[2] === undefined ? next : Number(e[2].trim());
    if (!Number.isInteger(value)) throw new Error(`enum ${enumName}: ${e[1]} = ${e[2]} is not a plain integer`);
    out.set(e[1]!, value);
    next = value + 1;
  }
  return out;
}

// ---- compile and run the probe --------------------------------------------------------

interface CResult {
  headerPath: string;
  headerText: string;
  minor: number;
  parsed: Map<string, CField[] | null>;
  sizes: Map<string, number>;
  /** struct → field → [offset, size] */
  fields: Map<string, Map<string, [number, number]>>;
  enums: Map<string, number>;
  macros: Map<string, number>;
}

type Probe = { skip: string } | { error: string } | { result: CResult };

function probe(): Probe {
  const cc = process.env.CC || 'cc';
  const pre = spawnSync(cc, ['-E', '-x', 'c', '-'], { input: '#include <linux/fuse.h>\n', encoding: 'utf8' });
  if (pre.error) return { skip: `no C compiler: cannot run "${cc}" (${(pre.error as NodeJS.ErrnoException).code ?? pre.error.message})` };
  if (pre.status !== 0) return { skip: `<linux/fuse.h> not available to ${cc}: ${pre.stderr.trim().split('\n')[0]}` };
  const marker = /^# \d+ "([^"]*\/linux\/fuse\.h)"/m.exec(pre.stdout);
  if (!marker) return { error: `${cc} -E found <linux/fuse.h> but printed no line marker naming it` };
  const headerPath = marker[1]!;
  const headerText = readFileSync(headerPath, 'utf8');
  const parsed = parseStructs(headerText);

  const lines: string[] = [];
  for (const def of tsStructs) {
    if (!parsed.has(def.name)) continue;
    lines.push(`S(${def.name})`);
    for (const f of parsed.get(def.name) ?? []) lines.push(f.bound === '' ? `X(${def.name}, ${f.name})` : `F(${def.name}, ${f.name})`);
  }
  const enumNames = [...parseEnum(headerText, 'fuse_opcode').keys(), ...parseEnum(headerText, 'fuse_notify_code').keys()];
  for (const e of enumNames) lines.push(`E(${e})`);
  for (const m of ['FUSE_KERNEL_VERSION', 'FUSE_KERNEL_MINOR_VERSION', 'FUSE_COMPAT_SETXATTR_IN_SIZE', 'FUSE_NAME_OFFSET', 'FUSE_NAME_OFFSET_DIRENTPLUS']) {
    lines.push(`#ifdef ${m}\n  M(${m})\n#endif`);
  }
  const program = `#include <stdio.h>
#include <stddef.h>
#include <linux/fuse.h>
#define S(T) printf("S %s %zu\\n", #T, sizeof(struct T));
#define F(T, f) printf("F %s %s %zu %zu\\n", #T, #f, offsetof(struct T, f), sizeof(((struct T *)0)->f));
#define X(T, f) printf("F %s %s %zu 0\\n", #T, #f, offsetof(struct T, f));
#define E(n) printf("E %s %lld\\n", #n, (long long)(n));
#define M(n) printf("M %s %lld\\n", #n, (long long)(n));
int main(void) {
${lines.map((l) => `  ${l}`).join('\n')}
  return 0;
}
`;
  const dir = mkdtempSync(join(tmpdir(), 'puffs-layouts-'));
  try {
    const src = join(dir, 'probe.c');
    const bin = join(dir, 'probe');
    writeFileSync(src, program);
    const comp = spawnSync(cc, ['-std=gnu11', '-o', bin, src], { encoding: 'utf8' });
    if (comp.status !== 0) return { error: `compiling the layout probe failed:\n${comp.stderr}\n--- probe.c ---\n${program}` };
    const run = spawnSync(bin, [], { encoding: 'utf8' });
    if (run.status !== 0) return { error: `the layout probe exited with ${run.status}: ${run.stderr}` };
    const result: CResult = {
      headerPath,
      headerText,
      minor: 0,
      parsed,
      sizes: new Map(),
      fields: new Map(),
      enums: new Map(),
      macros: new Map(),
    };
    for (const line of run.stdout.trim().split('\n')) {
      const [kind, a, b, c, d] = line.split(' ');
      if (kind === 'S') result.sizes.set(a!, Number(b));
      else if (kind === 'F') {
        if (!result.fields.has(a!)) result.fields.set(a!, new Map());
        result.fields.get(a!)!.set(b!, [Number(c), Number(d)]);
      } else if (kind === 'E') result.enums.set(a!, Number(b));
      else if (kind === 'M') result.macros.set(a!, Number(b));
    }
    result.minor = result.macros.get('FUSE_KERNEL_MINOR_VERSION') ?? 0;
    return { result };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const probed = probe();
const skip = 'skip' in probed ? probed.skip : false;

/** Runs a check that needs the compiled probe; fails loudly when the probe itself failed. */
function withC(fn: (c: CResult) => void): () => void {
  return () => {
    if ('error' in probed) assert.fail(probed.error);
    if ('result' in probed) fn(probed.result);
  };
}

// ---- sizes ----------------------------------------------------------------------------

test('every struct in <linux/fuse.h> has the size puffs gives it', { skip }, withC((c) => {
  const compared: string[] = [];
  for (const def of tsStructs) {
    const want = c.sizes.get(def.name);
    if (want === undefined) continue;
    assert.equal(def.size, want, `sizeof(struct ${def.name}) is ${want} in ${c.headerPath}, layouts.ts says ${def.size}`);
    compared.push(def.name);
  }
  // The 7.38 header has 60 of them; a parser slip must not make this vacuous.
  assert.ok(compared.length >= 55, `only ${compared.length} structs compared: ${compared.join(' ')}`);
  for (const def of tsStructs) {
    if (c.sizes.has(def.name)) continue;
    assert.ok(def.name in notInOldHeaders, `struct ${def.name} is in layouts.ts but not in ${c.headerPath} (minor ${c.minor}) nor in the list of newer structs`);
  }
}));

test('every field sits at the offset the header gives it, with a matching type', { skip }, withC((c) => {
  let checked = 0;
  for (const def of tsStructs) {
    const cfields = c.parsed.get(def.name);
    if (cfields === undefined) continue;
    assert.ok(cfields !== null, `cannot parse struct ${def.name} in ${c.headerPath}`);
    const where = c.fields.get(def.name) ?? new Map<string, [number, number]>();
    const size = c.sizes.get(def.name)!;
    const ts = layoutOf(def);
    const rename = renamed[def.name] ?? {};
    const byCName = new Map(ts.map((f) => [rename[f.name] ?? snake(f.name), f]));

    // The C fields tile the struct: no implicit compiler padding hides bytes from this check.
    let expect = 0;
    for (const cf of cfields) {
      const [off, sz] = where.get(cf.name)!;
      assert.equal(off, expect, `${def.name}.${cf.name}: C offset ${off}, expected ${expect} (implicit padding?)`);
      expect = off + sz;
    }
    assert.equal(expect, size, `${def.name}: C fields end at ${expect}, sizeof is ${size}`);

    for (const cf of cfields) {
      const [off, sz] = where.get(cf.name)!;
      if (sz === 0) continue; // flexible array member (fuse_dirent.name)
      const cname = cf.name.replace(/^_+/, '');
      const mine = byCName.get(cname);
      if (mine && mine.offset === off && mine.size === sz) {
        assertTypeMatches(def.name, mine.name, mine.spec, cf);
        checked++;
        continue;
      }
      // Otherwise the C field must be padding that puffs splits or names differently.
      const isPadding = /^(padding|unused|dummy|spare|reserved)\d*$/.test(cname);
      assert.ok(
        isPadding,
        `${def.name}.${cf.name} (offset ${off}, ${sz} bytes) has no field in layouts.ts` +
          (mine ? ` (${mine.name} is at offset ${mine.offset}, ${mine.size} bytes)` : ''),
      );
      const inside = ts.filter((f) => f.offset >= off && f.offset + f.size <= off + sz);
      assert.equal(
        inside.reduce((n, f) => n + f.size, 0),
        sz,
        `${def.name}.${cf.name} (offset ${off}, ${sz} bytes) is not exactly covered by layouts.ts fields`,
      );
      for (const f of inside) {
        if (typeof f.spec === 'string' && f.spec.startsWith('pad')) continue;
        assert.ok(
          carvedFromPadding[def.name]?.includes(f.name),
          `${def.name}.${f.name} lies in the header's padding field ${cf.name} and is not a known newer-protocol field`,
        );
      }
      checked++;
    }
  }
  assert.ok(checked >= 200, `only ${checked} fields checked`);
}));

function assertTypeMatches(struct: string, field: string, spec: FieldSpec, cf: CField): void {
  const what = `${struct}.${field} is ${typeof spec === 'object' ? spec.name : spec}, the header has ${cf.type} ${cf.name}${cf.bound !== undefined ? `[${cf.bound}]` : ''}`;
  if (typeof spec === 'string' && spec.startsWith('pad')) return; // any type: size already checked
  if (cf.bound !== undefined) assert.fail(`${what}: arrays must be padding in layouts.ts`);
  const ok: Record<string, readonly string[]> = {
    uint16_t: ['u16'],
    uint32_t: ['u32'],
    int32_t: ['i32'],
    uint64_t: ['u64', 'u64n'],
    int64_t: ['i64'],
  };
  if (typeof spec === 'object') {
    assert.equal(cf.type, `struct ${spec.name}`, what);
    return;
  }
  assert.ok(ok[cf.type]?.includes(spec), what);
}

test('tricky offsets agree with offsetof()', { skip }, withC((c) => {
  const at = (s: string, f: string) => c.fields.get(s)?.get(f)?.[0];
  assert.equal(offsetOf(L.initOut, 'flags2'), at('fuse_init_out', 'flags2'));
  assert.equal(offsetOf(L.initOut, 'flags2'), 32);
  assert.equal(offsetOf(L.initIn, 'flags2'), at('fuse_init_in', 'flags2'));
  assert.equal(offsetOf(L.setattrIn, 'uid'), at('fuse_setattr_in', 'uid'));
  assert.equal(offsetOf(L.setattrIn, 'uid'), 76);
  assert.equal(offsetOf(L.setattrIn, 'lockOwner'), at('fuse_setattr_in', 'lock_owner'));
  assert.equal(offsetOf(L.entryOut, 'attr'), at('fuse_entry_out', 'attr'));
  assert.equal(offsetOf(L.entryOut, 'attr'), 40);
  assert.equal(offsetOf(L.inHeader, 'totalExtlen'), at('fuse_in_header', 'total_extlen'));
  assert.equal(offsetOf(L.lkIn, 'lkFlags'), at('fuse_lk_in', 'lk_flags'));
  assert.equal(offsetOf(L.direntplus, 'dirent'), at('fuse_direntplus', 'dirent'));
  assert.equal(offsetOf(L.notifyRetrieveIn, 'size'), at('fuse_notify_retrieve_in', 'size'));
  assert.equal(offsetOf(L.kstatfs, 'frsize'), at('fuse_kstatfs', 'frsize'));
}));

test('compat sizes and name offsets agree with the header macros', { skip }, withC((c) => {
  assert.equal(L.setxattrInCompat.size, c.macros.get('FUSE_COMPAT_SETXATTR_IN_SIZE'));
  // Pre-7.36 kernels send fuse_init_in up to (not including) flags2.
  assert.equal(L.INIT_IN_COMPAT_SIZE, c.fields.get('fuse_init_in')?.get('flags2')?.[0]);
  assert.equal(L.dirent.size, c.macros.get('FUSE_NAME_OFFSET'));
  assert.equal(L.direntplus.size, c.macros.get('FUSE_NAME_OFFSET_DIRENTPLUS'));
  assert.equal(c.macros.get('FUSE_KERNEL_VERSION'), 7);
}));

// ---- opcode numbers -------------------------------------------------------------------

test('every opcode in enum fuse_opcode is in the table, by name and number', { skip }, withC((c) => {
  const header = parseEnum(c.headerText, 'fuse_opcode');
  assert.ok(header.size >= 45, `parsed only ${header.size} opcodes`);
  const table = ops as Record<string, { opcode: number; since?: number }>;
  for (const [cname, value] of header) {
    // The compiler agrees with the text parser.
    assert.equal(c.enums.get(cname), value, `${cname}: parsed ${value}, compiled ${c.enums.get(cname)}`);
    if (cname.startsWith('CUSE_') || cname.endsWith('_BSWAP_RESERVED')) continue;
    const name = camel(cname.replace(/^FUSE_/, ''));
    assert.ok(name in table, `${cname} = ${value} is missing from the opcode table (expected key ${name})`);
    assert.equal(table[name]!.opcode, value, `${cname}: header ${value}, table ${table[name]!.opcode}`);
  }
  // And the reverse: an op the header's version should know is in the header.
  const known = new Set([...header.values()]);
  for (const [name, spec] of Object.entries(table)) {
    if ((spec.since ?? 0) > c.minor) continue;
    assert.ok(known.has(spec.opcode), `${name} (${spec.opcode}, since 7.${spec.since ?? '?'}) is not in ${c.headerPath} (7.${c.minor})`);
  }
}));

test('every code in enum fuse_notify_code is in the notification table', { skip }, withC((c) => {
  const header = parseEnum(c.headerText, 'fuse_notify_code');
  assert.ok(header.size >= 6, `parsed only ${header.size} notify codes`);
  const table = notifications as Record<string, { code: number }>;
  let max = 0;
  for (const [cname, value] of header) {
    assert.equal(c.enums.get(cname), value);
    if (cname === 'FUSE_NOTIFY_CODE_MAX') continue;
    const name = camel(cname.replace(/^FUSE_NOTIFY_/, ''));
    assert.ok(name in table, `${cname} = ${value} is missing from the notification table (expected key ${name})`);
    assert.equal(table[name]!.code, value, `${cname}: header ${value}, table ${table[name]!.code}`);
    max = Math.max(max, value);
  }
  // Codes the header lacks must be newer ones (after its last code), never holes.
  for (const [name, spec] of Object.entries(table)) {
    if (![...header.values()].includes(spec.code)) assert.ok(spec.code > max, `${name} = ${spec.code} is not in the header`);
  }
}));

// ---- without the compiler -------------------------------------------------------------

test('structs newer than the 7.38 header have their upstream sizes', () => {
  assert.equal(L.sxTime.size, 16);
  assert.equal(L.statx.size, 256);
  assert.equal(L.statxIn.size, 24);
  assert.equal(L.statxOut.size, 288);
  assert.equal(L.copyFileRangeOut.size, 8);
  assert.equal(L.notifyPruneOut.size, 16);
  assert.equal(L.suppGroups.size, 4);
  for (const def of tsStructs) if (def.name in notInOldHeaders) assert.equal(def.size, notInOldHeaders[def.name], def.name);
  // Upstream offsets (include/uapi/linux/fuse.h, 7.45).
  assert.equal(offsetOf(L.sxTime, 'nsec'), 8);
  assert.equal(offsetOf(L.statx, 'mode'), 28);
  assert.equal(offsetOf(L.statx, 'ino'), 32);
  assert.equal(offsetOf(L.statx, 'atime'), 64);
  assert.equal(offsetOf(L.statx, 'mtime'), 112);
  assert.equal(offsetOf(L.statx, 'rdevMajor'), 128);
  assert.equal(offsetOf(L.statx, 'devMinor'), 140);
  assert.equal(offsetOf(L.statxIn, 'sxFlags'), 16);
  assert.equal(offsetOf(L.statxOut, 'stat'), 32);
  assert.equal(offsetOf(L.initOut, 'maxStackDepth'), 36);
  assert.equal(offsetOf(L.initOut, 'requestTimeout'), 40);
  assert.equal(L.initOut.size, 64);
  assert.equal(offsetOf(L.openOut, 'backingId'), 12);
  // "Matches the size of fuse_write_in"
  assert.equal(L.notifyRetrieveIn.size, L.writeIn.size);
});

test('layoutOf tiles each struct and offsetOf refuses unknown fields', () => {
  for (const def of tsStructs) {
    let at = 0;
    for (const f of layoutOf(def)) {
      assert.equal(f.offset, at, `${def.name}.${f.name}`);
      at += f.size;
    }
    assert.equal(at, def.size, def.name);
    // The kernel's structs are all 64-bit padded, except the few that are 4 bytes by nature.
    if (!['fuse_removemapping_in', 'fuse_supp_groups'].includes(def.name)) assert.equal(def.size % 8, 0, `${def.name} is ${def.size} bytes`);
  }
  assert.throws(() => offsetOf(L.initOut, 'nope' as never), RangeError);
});
