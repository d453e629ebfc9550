/**
 * The reader behind lib/config.ts: each setting comes from its flag, else its environment
 * variable, else its default, and is checked where it is read. Problems are collected, not
 * thrown one at a time, so a user sees every bad setting in one line; each names the flag or
 * variable it came from and what it expects. It never reads the environment itself (config.ts
 * passes its getter), so variables are still read in one module.
 *
 * @example
 * ```ts
 * import { SettingsReader } from "./_config_reader.ts";
 * const r = new SettingsReader({ rounds: "x" }, () => undefined, "/tmp");
 * r.int({ flag: "rounds" }, 3, 1);
 * console.assert(r.problems[0]?.variable === "--rounds");
 * ```
 */
import { isAbsolute, join } from "node:path";
import { parseUnits } from "viem";

/** One unusable setting: where it came from and what is wrong with it. */
export interface ConfigProblem {
  /** `--flag` or `VARIABLE`. */
  variable: string;
  /** What it expects, e.g. "must be a positive integer, got abc". */
  message: string;
}

/** Where a setting is read: a flag, a variable, or both (the flag wins). */
export interface Source {
  flag?: string;
  variable?: string;
  /** Older variable names still accepted, after `variable`. */
  aliases?: string[];
}

/** Parsed flag values, as node:util's parseArgs returns them. */
export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** The order of the secp256k1 group: a private key must be in [1, N). */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** Reads settings from flags and variables, collecting every problem. */
export class SettingsReader {
  readonly problems: ConfigProblem[] = [];

  /**
   * @param flags parsed flags
   * @param get the environment getter (undefined for unset or empty)
   * @param baseDir where relative paths start
   */
  constructor(
    readonly flags: FlagValues,
    readonly get: (name: string) => string | undefined,
    readonly baseDir: string,
    /** Whether reading variable `name` was refused (the process may not read it). */
    readonly denied: (name: string) => boolean = () => false,
  ) {}

  /**
   * A required setting that is missing: unset, or not readable by this process. Found walking
   * through the README as a new user: `deno run worker.ts` without --allow-env said the key "is
   * not set" while it was.
   */
  unset(name: string, why = ""): undefined {
    if (this.denied(name)) {
      const how = "this process may not read the environment; run it through its deno task " +
        "(e.g. deno task worker) or with --allow-env";
      return this.fail(name, `could not be read: ${how}`);
    }
    return this.fail(name, `is not set${why ? ` (${why})` : ""}`);
  }

  /** The text of a setting and the name to blame for it (undefined text: not set). */
  raw(source: Source): { text?: string; name: string } {
    const f = source.flag === undefined ? undefined : this.flags[source.flag];
    if (typeof f === "string") return { text: f, name: `--${source.flag}` };
    for (const variable of [source.variable, ...(source.aliases ?? [])]) {
      if (variable === undefined) continue;
      const v = this.get(variable);
      if (v !== undefined) return { text: v, name: variable };
    }
    return { text: undefined, name: nameOf(source) };
  }

  /** Records a problem; returns undefined so callers can `return r.fail(...)`. */
  fail(variable: string, message: string): undefined {
    this.problems.push({ variable, message });
    return undefined;
  }

  /** A string setting; `fallback` undefined makes it required. */
  text(source: Source, fallback?: string, why = ""): string | undefined {
    const { text, name } = this.raw(source);
    if (text !== undefined) return text;
    if (fallback !== undefined) return fallback;
    return this.unset(name, why);
  }

  /** An integer in [min, max]. */
  int(source: Source, fallback: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER) {
    return this.#number(source, fallback, min, max, true);
  }

  /** A finite number in [min, max]. */
  number(source: Source, fallback: number | undefined, min: number, max = Number.MAX_VALUE) {
    return this.#number(source, fallback, min, max, false);
  }

  #number(
    source: Source,
    fallback: number | undefined,
    min: number,
    max: number,
    integer: boolean,
  ): number | undefined {
    const { text, name } = this.raw(source);
    if (text === undefined) return fallback;
    // Number() also takes " 3", 0x10, 1e3 and 1.0, which a user did not mean as the number read
    // (found in the CLI audit). An exponent is kept for fractions: a learning rate of 3e-4.
    const plain = integer ? /^-?\d+$/ : /^-?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?$/i;
    const n = Number(text);
    const ok = plain.test(text) && Number.isFinite(n) && n >= min && n <= max;
    if (ok) return n;
    const range = max >= Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    return this.fail(name, `must be ${integer ? "an integer" : "a number"} ${range}, got ${text}`);
  }

  /**
   * A positive amount in units of 10^`decimals` wei (18: ARTH, 9: gwei), as wei; `fallback`
   * (wei) when unset.
   */
  amount(source: Source, fallback: bigint | undefined, decimals: 9 | 18): bigint | undefined {
    const { text, name } = this.raw(source);
    if (text === undefined) return fallback;
    const plain = new RegExp(`^\\d{1,30}(\\.\\d{1,${decimals}})?$`).test(text);
    const wei = plain ? parseUnits(text, decimals) : 0n;
    if (wei > 0n) return wei;
    const unit = decimals === 18 ? "ARTH" : "gwei";
    return this.fail(name, `must be a positive amount in ${unit} (e.g. 10 or 2.5), got ${text}`);
  }

  /** An http(s) URL (without a trailing slash). */
  url(source: Source, fallback: string, why: string): string | undefined {
    const { text, name } = this.raw(source);
    const value = text ?? fallback;
    try {
      const u = new URL(value);
      if (u.protocol === "http:" || u.protocol === "https:") return value.replace(/\/+$/, "");
    } catch {
      // reported below
    }
    return this.fail(name, `must be an http(s) URL (${why}), got ${value}`);
  }

  /** One of `choices`. */
  choice<T extends string>(source: Source, choices: readonly T[], fallback?: T): T | undefined {
    const { text, name } = this.raw(source);
    if (text === undefined) return fallback;
    if ((choices as readonly string[]).includes(text)) return text as T;
    return this.fail(name, `must be one of ${choices.join(", ")}, got ${text}`);
  }

  /** A boolean flag. */
  flag(flag: string): boolean {
    return this.flags[flag] === true;
  }

  /** A path, absolute or relative to the base directory (`~/` is the home directory). */
  path(source: Source, fallback: string): string {
    const { text, name } = this.raw(source);
    return this.resolve(text ?? fallback, name);
  }

  /**
   * `path` made absolute against the base directory. An empty one, given as `name`, is refused:
   * `--dir=` silently meant the base directory itself (found in the CLI audit).
   */
  resolve(path: string, name?: string): string {
    if (name !== undefined && path.trim() === "") {
      this.fail(name, "is empty: give a file or folder path, or leave it out for the default");
    }
    if (path === "~" || path.startsWith("~/")) return join(this.get("HOME") ?? ".", path.slice(1));
    return isAbsolute(path) ? path : join(this.baseDir, path);
  }

  /**
   * An EVM private key: 32 bytes of hex (0x optional), in the curve's range. The message never
   * repeats the key.
   */
  privateKey(source: Source, why: string, required = true): `0x${string}` | undefined {
    const { text, name } = this.raw(source);
    if (text === undefined) return required ? this.unset(name, why) : undefined;
    const hex = text.trim().replace(/^0x/i, "");
    if (/^[0-9a-fA-F]{64}$/.test(hex)) {
      const k = BigInt(`0x${hex}`);
      if (k > 0n && k < SECP256K1_N) return `0x${hex.toLowerCase()}`;
      return this.fail(name, "is not a valid secp256k1 private key (zero or too large)");
    }
    return this.fail(
      name,
      `must be a private key of 32 bytes as 64 hex digits (0x...), got ${text.length} characters`,
    );
  }

  /** A comma-separated list of EVM addresses (lowercase). */
  /** Comma-separated web origins (`https://host[:port]`, nothing after), each as URL.origin. */
  /** A comma-separated list of IP addresses (v4 or v6), or `unix` for a unix socket. */
  ipList(source: Source): string[] {
    const { text, name } = this.raw(source);
    if (text === undefined) return [];
    const items = text.split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
    const isIp = (s: string) =>
      s === "unix" || /^\d{1,3}(\.\d{1,3}){3}$/.test(s) ||
      (/^[0-9a-f:.]+$/.test(s) && s.includes(":"));
    const bad = items.filter((s) => !isIp(s));
    if (bad.length) {
      this.fail(name, `must be comma-separated IP addresses (or unix), got ${bad.join(", ")}`);
    }
    return items;
  }

  originList(source: Source): string[] {
    const { text, name } = this.raw(source);
    if (text === undefined) return [];
    const items = text.split(",").map((s) => s.trim()).filter(Boolean);
    const originOf = (s: string) => {
      try {
        return new URL(s).origin;
      } catch {
        return undefined;
      }
    };
    const bad = items.filter((o) => originOf(o) !== o);
    if (bad.length) {
      this.fail(
        name,
        `must be comma-separated origins like https://host:port, got ${bad.join(", ")}`,
      );
    }
    return items;
  }

  addressList(source: Source): string[] {
    const { text, name } = this.raw(source);
    if (text === undefined) return [];
    const items = text.split(",").map((s) => s.trim()).filter(Boolean);
    const bad = items.filter((a) => !/^0x[0-9a-fA-F]{40}$/.test(a));
    if (bad.length) this.fail(name, `must be comma-separated 0x addresses, got ${bad.join(", ")}`);
    return items.map((a) => a.toLowerCase());
  }
}

/** How a setting is named when it is missing: `--flag (VARIABLE)`, or either alone. */
export function nameOf(source: Source): string {
  if (source.flag && source.variable) return `--${source.flag} (${source.variable})`;
  return source.variable ?? `--${source.flag}`;
}
