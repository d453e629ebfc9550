import assert from "node:assert/strict";
import {
  ConfigError,
  env,
  readCoordinatorSettings,
  readDatasetDidSettings,
  readDatasetSettings,
  readDemoSettings,
  readJobSettings,
  readWorkerSettings,
} from "../../lib/config.ts";
import { configFrom, DEFAULT_CONFIG } from "../../lib/coordinator/context.ts";
import { withEnv } from "./_env.ts";

Deno.test("a missing or unusable setting names its variable", () => {
  // Prepare
  const saved = Deno.env.get("ARTHA_CHAIN_ID");
  try {
    Deno.env.delete("ARTHA_CHAIN_ID");
    // Execute, Assert
    assert.throws(
      () => env.requireChainId(),
      (e) =>
        e instanceof ConfigError && e.variable === "ARTHA_CHAIN_ID" && /is not set/.test(e.message),
    );
    Deno.env.set("ARTHA_CHAIN_ID", "abc");
    assert.throws(() => env.requireChainId(), /ARTHA_CHAIN_ID must be a positive integer/);
    Deno.env.set("ARTHA_CHAIN_ID", "31337");
    assert.equal(env.requireChainId(), 31337);
  } finally {
    if (saved === undefined) Deno.env.delete("ARTHA_CHAIN_ID");
    else Deno.env.set("ARTHA_CHAIN_ID", saved);
  }
});

Deno.test("defaults: store and model cache", () => {
  assert.equal(typeof env.storeDir(), "string");
  assert.ok(env.modelCacheDir().endsWith("arthatrain/models"));
});

const KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ADDRESSES = Object.fromEntries(
  ["registry", "reputation", "jobs", "proofs", "models", "dids", "verification", "disputes"].map(
    (c, i) => [c, `0x${String(i + 1).padStart(40, "0")}`],
  ),
);
const CLEAN = {
  ARTHA_RPC_URL: undefined,
  ARTH_RPC_URL: undefined,
  ARTHA_CHAIN_ID: undefined,
  ARTHA_ADDRESSES: undefined,
  ARTHA_ADDRESSES_FILE: undefined,
  ARTHA_COORDINATOR: undefined,
  ARTHA_KV_PATH: undefined,
  ARTHA_STORE_DIR: undefined,
  ARTHA_CRON: undefined,
  ARTHA_PUBLIC_ORIGIN: undefined,
  ARTHA_PUBLIC_RPC_URL: undefined,
  ARTHA_MAX_STAKE: undefined,
  ARTHA_MAX_GAS_PRICE: undefined,
  DENO_DEPLOYMENT_ID: undefined,
};

Deno.test("ARTHA_ADDRESSES takes a file (relative to INIT_CWD) or the JSON itself", async () => {
  // Prepare
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/a.json`, JSON.stringify(ADDRESSES));
  try {
    // Execute, Assert
    withEnv({ ...CLEAN, INIT_CWD: dir, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: "a.json" }, () => {
      const s = readCoordinatorSettings();
      assert.equal(s.deployment.file, `${dir}/a.json`);
      assert.equal(s.deployment.addresses.jobs, ADDRESSES.jobs);
      assert.equal(s.kvPath, `${dir}/.artha/coordinator.kv`);
      assert.equal(s.storeDir, `${dir}/.artha/svdb`);
      assert.equal(s.rpcUrl, "http://127.0.0.1:8545");
      assert.equal(s.chainId, 31337);
    });
    const json = JSON.stringify(ADDRESSES);
    withEnv({ ...CLEAN, INIT_CWD: dir, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: json }, () => {
      const s = readCoordinatorSettings();
      assert.equal(s.deployment.file, undefined);
      assert.equal(s.deployment.addresses.disputes, ADDRESSES.disputes);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the SVDB limits come from ARTHA_SVDB_* and default to the coordinator's", () => {
  withEnv({
    ...CLEAN,
    ARTHA_PRIVATE_KEY: KEY,
    ARTHA_ADDRESSES: JSON.stringify(ADDRESSES),
    ARTHA_SVDB_MAX_FILE_BYTES: "1024",
    ARTHA_SVDB_UPLOAD_LEASE_MS: "60000",
    ARTHA_SVDB_UPLOAD_DID_POOL_BYTES: "4096",
    ARTHA_SVDB_UPLOAD_WRITERS: "0xAbCd000000000000000000000000000000000001",
  }, () => {
    const config = configFrom(readCoordinatorSettings());
    assert.equal(config.maxFileBytes, 1024);
    assert.equal(config.uploadLeaseMs, 60_000);
    assert.equal(config.uploadDidPoolBytes, 4096);
    assert.deepEqual(config.uploadWriters, ["0xabcd000000000000000000000000000000000001"]);
    assert.equal(config.uploadQuotaBytes, DEFAULT_CONFIG.uploadQuotaBytes);
  });
});

Deno.test("ARTHA_PUBLIC_ORIGIN lists the origins signed reads must name; anything else is refused", () => {
  const env = { ...CLEAN, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: JSON.stringify(ADDRESSES) };
  withEnv({ ...env, ARTHA_PUBLIC_ORIGIN: "https://artha.example, http://127.0.0.1:8787" }, () => {
    const config = configFrom(readCoordinatorSettings());
    assert.deepEqual(config.publicOrigins, ["https://artha.example", "http://127.0.0.1:8787"]);
  });
  withEnv(env, () => assert.deepEqual(configFrom(readCoordinatorSettings()).publicOrigins, []));
  withEnv({ ...env, ARTHA_PUBLIC_ORIGIN: "https://artha.example/svdb" }, () => {
    assert.throws(
      () => readCoordinatorSettings(),
      /ARTHA_PUBLIC_ORIGIN.*origins like https:\/\/host:port, got https:\/\/artha.example\/svdb/,
    );
  });
});

Deno.test("the per-client inference limits come from ARTHA_INFER_*; a zero generation cap is refused", () => {
  const env = { ...CLEAN, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: JSON.stringify(ADDRESSES) };
  withEnv({
    ...env,
    ARTHA_INFER_CLIENT_GENERATIONS: "4",
    ARTHA_INFER_MIN_RESIDENCE_MS: "0",
    ARTHA_INFER_CLIENT_COLD_PER_MINUTE: undefined,
    ARTHA_INFER_UNSERVABLE_TTL_MS: undefined,
  }, () => {
    const config = configFrom(readCoordinatorSettings());
    assert.deepEqual(config.inferLimits, { clientGenerations: 4, minResidenceMs: 0 });
  });
  withEnv({ ...env, ARTHA_INFER_CLIENT_GENERATIONS: "0" }, () => {
    assert.throws(() => readCoordinatorSettings(), /ARTHA_INFER_CLIENT_GENERATIONS/);
  });
});

Deno.test("ARTHA_TRUSTED_PROXIES lists the reverse proxies whose X-Forwarded-For is read", () => {
  const env = { ...CLEAN, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: JSON.stringify(ADDRESSES) };
  withEnv({ ...env, ARTHA_TRUSTED_PROXIES: "127.0.0.1, ::1,unix" }, () => {
    assert.deepEqual(configFrom(readCoordinatorSettings()).trustedProxies, [
      "127.0.0.1",
      "::1",
      "unix",
    ]);
  });
  withEnv({ ...env, ARTHA_TRUSTED_PROXIES: undefined }, () => {
    assert.deepEqual(configFrom(readCoordinatorSettings()).trustedProxies, []);
  });
  withEnv({ ...env, ARTHA_TRUSTED_PROXIES: "proxy.example" }, () => {
    assert.throws(() => readCoordinatorSettings(), /ARTHA_TRUSTED_PROXIES.*IP addresses/);
  });
});

Deno.test("ARTHA_PUBLIC_RPC_URL is the RPC URL browsers are given; a non-http one is refused", () => {
  const env = { ...CLEAN, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: JSON.stringify(ADDRESSES) };
  withEnv({ ...env, ARTHA_PUBLIC_RPC_URL: "https://rpc.example/" }, () => {
    assert.equal(configFrom(readCoordinatorSettings()).publicRpcUrl, "https://rpc.example");
  });
  withEnv(env, () => assert.equal(configFrom(readCoordinatorSettings()).publicRpcUrl, undefined));
  withEnv({ ...env, ARTHA_PUBLIC_RPC_URL: "ws://rpc.example" }, () => {
    assert.throws(() => readCoordinatorSettings(), /ARTHA_PUBLIC_RPC_URL.*http\(s\) URL/);
  });
});

Deno.test("every problem is reported at once, each naming its flag or variable", () => {
  withEnv({ ...CLEAN, ARTHA_PRIVATE_KEY: "nope", ARTHA_CHAIN_ID: "x" }, () => {
    assert.throws(
      () => readWorkerSettings(["--poll", "1", "--coordinator", "ftp://x"], { readFiles: false }),
      (e) => {
        assert.ok(e instanceof ConfigError);
        assert.deepEqual(e.problems.map((p) => p.variable).sort(), [
          "--coordinator",
          "--poll",
          "ARTHA_CHAIN_ID",
          "ARTHA_PRIVATE_KEY",
        ]);
        assert.equal(e.message.split("\n").length, 1);
        assert.doesNotMatch(e.message, /nope/);
        return true;
      },
    );
  });
});

Deno.test("worker paths: --dir holds the key and state, relative to INIT_CWD", () => {
  withEnv({ ...CLEAN, INIT_CWD: "/home/me/net", ARTHA_PRIVATE_KEY: KEY.slice(2) }, () => {
    const s = readWorkerSettings(["--dir", "laptop1", "withdraw"], { readFiles: false });
    assert.equal(s.command, "withdraw");
    assert.equal(s.key, "/home/me/net/laptop1/node.key");
    assert.equal(s.state, "/home/me/net/laptop1/worker.json");
    assert.equal(s.deployment.file, "/home/me/net/.artha/addresses.json");
    assert.equal(s.privateKey, KEY, "a key without 0x is accepted");
  });
});

Deno.test("worker settle: takes the job id after it, and nothing else", () => {
  withEnv({ ...CLEAN, ARTHA_PRIVATE_KEY: KEY }, () => {
    const id = `0x${"AB".repeat(32)}`;
    const s = readWorkerSettings(["settle", id], { readFiles: false });
    assert.equal(s.command, "settle");
    assert.equal(s.jobId, id.toLowerCase());
    assert.equal(readWorkerSettings([], { readFiles: false }).jobId, undefined);
    assert.throws(
      () => readWorkerSettings(["settle"], { readFiles: false }),
      /settle needs the job's id after it/,
    );
    assert.throws(
      () => readWorkerSettings(["settle", "0x12"], { readFiles: false }),
      /0x12 is not a job id \(0x and 64 hex digits\)/,
    );
    assert.throws(
      () => readWorkerSettings(["settle", id, "more"], { readFiles: false }),
      /more is not expected after the command/,
    );
    assert.throws(
      () => readWorkerSettings(["withdraw", id], { readFiles: false }),
      /is not expected after the command/,
    );
  });
});

Deno.test("worker limits: --max-stake in ARTH and --max-gas-price in gwei, exact, positive", () => {
  withEnv({ ...CLEAN, ARTHA_PRIVATE_KEY: KEY }, () => {
    const plain = readWorkerSettings([], { readFiles: false });
    assert.equal(plain.maxStake, undefined, "registration's own default (10 ARTH)");
    assert.equal(plain.maxFeePerGas, 1_000n * 10n ** 9n);
    const s = readWorkerSettings(["--max-stake", "50.5", "--max-gas-price", "2.25"], {
      readFiles: false,
    });
    assert.equal(s.maxStake, 50_500_000_000_000_000_000n);
    assert.equal(s.maxFeePerGas, 2_250_000_000n);
    assert.throws(
      () => readWorkerSettings(["--max-stake=-1", "--max-gas-price", "0"], { readFiles: false }),
      /--max-stake must be a positive amount in ARTH .*got -1.*--max-gas-price must be a positive amount in gwei .*got 0/s,
    );
  });
  withEnv({ ...CLEAN, ARTHA_PRIVATE_KEY: KEY, ARTHA_MAX_STAKE: "1e3" }, () => {
    assert.throws(() => readWorkerSettings([], { readFiles: false }), /ARTHA_MAX_STAKE must be/);
  });
});

Deno.test("attacker on the network: a worker talks plain http only to its own machine unless told otherwise", () => {
  const KEY = `0x${"11".repeat(32)}`;
  const worker = (args: string[], env: Record<string, string> = {}) => {
    let coordinator: string | undefined;
    withEnv({ ...CLEAN, ARTHA_PRIVATE_KEY: KEY, ARTHA_INSECURE_HTTP: undefined, ...env }, () => {
      coordinator = readWorkerSettings(args, { readFiles: false }).coordinator;
    });
    return coordinator;
  };
  // Another machine over plain http: refused, naming the flag and what to do.
  assert.throws(
    () => worker(["--coordinator", "http://10.0.0.5:8787"]),
    /--coordinator is plain http to 10\.0\.0\.5:8787: use https .*ARTHA_INSECURE_HTTP=1/,
  );
  assert.throws(
    () => worker(["--rpc", "http://chain.example.org:8545"]),
    /--rpc is plain http to chain\.example\.org:8545/,
  );
  // Its own machine, https, or an explicit opt-in: accepted.
  for (const url of ["http://127.0.0.1:8787", "http://localhost:8787", "https://10.0.0.5"]) {
    assert.equal(worker(["--coordinator", url]), url);
  }
  const optIn = worker(["--coordinator", "http://10.0.0.5:8787"], { ARTHA_INSECURE_HTTP: "1" });
  assert.equal(optIn, "http://10.0.0.5:8787");
});

Deno.test("attacker: a job submitted with the defaults asks a share of its commits to prove their updates", () => {
  // Found in the job owner audit: `job submit` set no verification policy, so a node that
  // committed and delivered a made-up update was never asked anything and was paid its full
  // share of the owner's budget (only a commit with no update at all was challenged).
  const vars = { ...CLEAN, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: JSON.stringify(ADDRESSES) };
  withEnv(vars, () => {
    const submit = (...flags: string[]) => readJobSettings(["submit", ...flags]).submit!;
    assert.deepEqual(submit().verification, { redundancy: 1, challengeRate: 0.1, sampleRate: 0 });
    const policy = ["--redundancy", "3", "--challenge-rate", "0.25", "--sample-rate", "0.02"];
    assert.deepEqual(
      submit(...policy, "--committee").verification,
      { redundancy: 3, challengeRate: 0.25, sampleRate: 0.02, committee: true },
    );
  });
});

Deno.test("demo: an option of a codec or privacy the run does not use is refused, not ignored", () => {
  // Found walking through the README as a new user: `--fraction 0.5`, `--parts 5` or `--epsilon
  // 5` alone ran the same spec as no flag, and `--codec partition --parts 5 --nodes 2` was refused
  // by the coordinator only after the job was escrowed, as raw JSON.
  const problems = (args: string[]) => {
    try {
      readDemoSettings(args);
      return [];
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.problems.map((p) => p.variable);
    }
  };
  assert.deepEqual(problems(["--fraction", "0.5"]), ["--fraction"]);
  assert.deepEqual(problems(["--codec", "int8", "--parts", "4"]), ["--parts"]);
  assert.deepEqual(problems(["--epsilon", "5"]), ["--epsilon"]);
  assert.deepEqual(problems(["--codec", "partition", "--parts", "5", "--nodes", "2"]), ["--parts"]);
  assert.deepEqual(problems(["--codec", "topk", "--fraction", "0.5"]), []);
  assert.deepEqual(problems(["--codec", "partition", "--parts", "2", "--nodes", "2"]), []);
  assert.deepEqual(problems(["--dp", "1", "--epsilon", "5"]), []);
});

Deno.test("DENO_SERVE_ADDRESS is tcp:HOST:PORT or unix:PATH; anything else is named, not taken for a busy port", () => {
  const env = { ...CLEAN, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: JSON.stringify(ADDRESSES) };
  for (const ok of ["tcp:127.0.0.1:8788", "tcp:[::1]:9000", "tcp:localhost:80", "unix:/tmp/a"]) {
    withEnv({ ...env, DENO_SERVE_ADDRESS: ok }, () => void readCoordinatorSettings());
  }
  for (const bad of ["foo", "tcp:127.0.0.1:99999", "127.0.0.1:8788", "tcp:127.0.0.1"]) {
    withEnv({ ...env, DENO_SERVE_ADDRESS: bad }, () => {
      assert.throws(() => readCoordinatorSettings(), /DENO_SERVE_ADDRESS must be tcp:HOST:PORT/);
    });
  }
});

Deno.test("attacker on the network: the job owner talks plain http only to its own machine unless told otherwise", () => {
  // Found in the job owner audit: submit, status, model and cancel took plain http to another
  // host, whose man in the middle could forge the job's status, its model and the chain's
  // answers they are checked against; the worker refused it.
  const vars = { ...CLEAN, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: JSON.stringify(ADDRESSES) };
  const job = (args: string[], more: Record<string, string> = {}) =>
    withEnv({ ...vars, ARTHA_INSECURE_HTTP: undefined, ...more }, () => readJobSettings(args));
  const remote = [
    "--coordinator",
    "http://10.0.0.5:8787",
    "--rpc",
    "http://chain.example.org:8545",
  ];
  // Another machine over plain http: refused for every command, naming each flag.
  for (const command of ["submit", "status", "model", "cancel", "start"]) {
    assert.throws(
      () => job([command, ...remote]),
      /--coordinator is plain http to 10\.0\.0\.5:8787: use https .*ARTHA_INSECURE_HTTP=1.*--rpc is plain http to chain\.example\.org:8545/,
    );
  }
  assert.throws(
    () => job(["status"], { ARTHA_COORDINATOR: "http://10.0.0.5:8787" }),
    /ARTHA_COORDINATOR is plain http to 10\.0\.0\.5:8787/,
  );
  // Its own machine, https, or an explicit opt-in: accepted.
  for (const url of ["http://127.0.0.1:8787", "http://localhost:8787", "https://10.0.0.5"]) {
    assert.equal(job(["status", "--coordinator", url]).coordinator, url);
  }
  const optIn = job(["cancel", ...remote], { ARTHA_INSECURE_HTTP: "1" });
  assert.equal(optIn.endpoint?.rpcUrl, "http://chain.example.org:8545");
});

Deno.test("owner: job submit uploads no shard that no node trains on", () => {
  // Found in the job owner audit: task t trains shard t mod shards, and the defaults (15 Brown
  // genres, 3 nodes) uploaded 12 genres as private data nobody trained on.
  const vars = { ...CLEAN, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: JSON.stringify(ADDRESSES) };
  const submit = (...flags: string[]) =>
    withEnv(vars, () => readJobSettings(["submit", ...flags]).submit!);
  // Unset, the count follows the task groups (--nodes / --redundancy, rounded up).
  assert.equal(submit().shards, 3);
  assert.equal(submit("--nodes", "40").shards, 15, "at most the 15 Brown genres");
  assert.equal(submit("--nodes", "5", "--redundancy", "2").shards, 3);
  assert.equal(submit("--data", "/etc/hostname", "--nodes", "2").shards, 2);
  assert.equal(submit("--data", "/etc/hostname", "--nodes", "9").shards, 4, "a file's default");
  // More shards than task groups: refused before anything is sent, naming what to change.
  assert.throws(
    () => submit("--data", "/etc/hostname", "--shards", "4"),
    /--shards must be at most the job's task groups \(--nodes 3 \/ --redundancy 1, rounded up: 3\), got 4: .*1 shards would be uploaded and never trained on/,
  );
  assert.throws(
    () => submit("--shards", "4", "--nodes", "6", "--redundancy", "2"),
    /rounded up: 3/,
  );
  assert.equal(submit("--shards", "4", "--nodes", "4").shards, 4);
});

Deno.test("attacker: a round deadline past the chain's stall window is refused before the escrow", () => {
  // Found in the job owner audit: submit escrows one second a step, so the chain lets a node's
  // operator abandon a job no round closed on for a day (and its steps' seconds); with
  // --deadline 90000 one node withholding its update made a round outlast that and could end a
  // healthy job.
  const vars = { ...CLEAN, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: JSON.stringify(ADDRESSES) };
  const submit = (...flags: string[]) =>
    withEnv(vars, () => readJobSettings(["submit", ...flags]).submit!);
  assert.throws(
    () => submit("--deadline", "90000"),
    /--deadline must be at most 28800 seconds \(8 h\), got 90000: .*STALL_GRACE/,
  );
  assert.throws(() => submit("--deadline", "28801"), /--deadline must be at most 28800/);
  assert.equal(submit("--deadline", "28800").deadlineSeconds, 28_800);
  assert.equal(submit().deadlineSeconds, 600);
});

Deno.test("attacker: the job owner's and the data owner's sends are capped as the worker's are", () => {
  // Found in the job owner audit: job.ts and dataset.ts made their clients without a fee cap, so
  // a lying RPC could fill in any fee for the escrow, a cancel, a DID or a dataset's grants.
  const vars = {
    ...CLEAN,
    ARTHA_PRIVATE_KEY: KEY,
    ARTHA_ADDRESSES: JSON.stringify(ADDRESSES),
    ARTHA_OWNER_DID: undefined,
  };
  const job = (args: string[], more: Record<string, string> = {}) =>
    withEnv({ ...vars, ...more }, () => readJobSettings(args));
  const dataset = (args: string[], more: Record<string, string> = {}) =>
    withEnv({ ...vars, ...more }, () => {
      const prepare = ["prepare", "/etc/hostname", "--owner", "did:artha:01", "--grant", "x"];
      return [
        readDatasetSettings([...prepare, ...args]).publish!,
        readDatasetDidSettings(["did", ...args]),
      ];
    });
  // The worker's default: 1,000 gwei.
  for (const command of ["submit", "cancel", "start"]) {
    assert.equal(job([command]).maxFeePerGas, 1_000n * 10n ** 9n);
  }
  for (const s of dataset([])) assert.equal(s.maxFeePerGas, 1_000n * 10n ** 9n);
  // --max-gas-price and ARTHA_MAX_GAS_PRICE, in gwei, exact.
  assert.equal(job(["cancel", "--max-gas-price", "2.25"]).maxFeePerGas, 2_250_000_000n);
  assert.equal(job(["submit"], { ARTHA_MAX_GAS_PRICE: "3" }).maxFeePerGas, 3_000_000_000n);
  for (const s of dataset(["--max-gas-price", "2.25"])) {
    assert.equal(s.maxFeePerGas, 2_250_000_000n);
  }
  for (const s of dataset([], { ARTHA_MAX_GAS_PRICE: "3" })) {
    assert.equal(s.maxFeePerGas, 3_000_000_000n);
  }
  assert.throws(
    () => job(["submit", "--max-gas-price", "0"]),
    /--max-gas-price must be a positive amount in gwei .*got 0/,
  );
  assert.throws(() => dataset([], { ARTHA_MAX_GAS_PRICE: "1e3" }), /ARTHA_MAX_GAS_PRICE must be/);
});

Deno.test("attacker: the coordinator's account signs nothing above ARTHA_MAX_GAS_PRICE (default 1,000 gwei)", () => {
  // Found in the chain audit: the coordinator, which signs unattended, had no fee cap, so its RPC
  // node could fill in any fee for its assignments, closes and challenges.
  const env = { ...CLEAN, ARTHA_PRIVATE_KEY: KEY, ARTHA_ADDRESSES: JSON.stringify(ADDRESSES) };
  withEnv({ ...env, ARTHA_MAX_GAS_PRICE: "2.5" }, () => {
    assert.equal(readCoordinatorSettings().maxFeePerGas, 2_500_000_000n);
  });
  withEnv(env, () => assert.equal(readCoordinatorSettings().maxFeePerGas, 1_000n * 10n ** 9n));
  withEnv({ ...env, ARTHA_MAX_GAS_PRICE: "lots" }, () => {
    assert.throws(() => readCoordinatorSettings(), /ARTHA_MAX_GAS_PRICE/);
  });
});
