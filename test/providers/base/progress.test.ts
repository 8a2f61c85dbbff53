// Long host steps show progress while they run, keep a full log on the host (rotated, secret
// parameters redacted) whose path errors name, and take their timeout from `phoenix:stepTimeouts`.
// The relay and the settings parser are pure; the rest runs a real provider against the real sshd.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist, requireNode } from "../../load";
import { stackConfig } from "../harness";

const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const progress = loadDist<typeof import("../../../providers/base/progress")>("providers/base/progress");
const timeouts = loadDist<typeof import("../../../infra/config/step-timeouts")>("infra/config/step-timeouts");
const settings = loadDist<typeof import("../../../infra/config/stack-settings")>("infra/config/stack-settings");
const { providerKinds } = loadDist<typeof import("../../../providers/index")>("providers/index");
const { z } = requireNode("zod") as typeof import("zod");

describe("the progress relay", () => {
  const relay = (opts: { everyMs?: number; heartbeatMs?: number } = {}) => {
    const clock = { t: 0 };
    const out: string[] = [];
    const r = progress.progressRelay("phoenix lxc-step 950 app @pve", (l) => out.push(l), { ...opts, now: () => clock.t });
    return { r, out, clock };
  };

  it("relays the first line at once, then at most one line per interval, saying how many it held back", () => {
    const { r, out, clock } = relay({ everyMs: 5000 });
    r.line("Reading package lists...");
    for (let i = 1; i <= 10; i++) r.line(`Unpacking package ${i}`);
    expect(out).toEqual(["phoenix lxc-step 950 app @pve [0s]: Reading package lists..."]);
    clock.t = 5000;
    r.tick();
    expect(out[1]).toBe("phoenix lxc-step 950 app @pve [5s]: Unpacking package 10 (+9 more lines in the log)");
    clock.t = 12_000;
    r.line("Setting up vllm");
    expect(out[2]).toBe("phoenix lxc-step 950 app @pve [12s]: Setting up vllm");
    // The step's last line, held back, shows when it ends.
    r.line("Successfully installed vllm-0.6.3");
    expect(out).toHaveLength(3);
    clock.t = 13_000;
    r.end();
    expect(out[3]).toBe("phoenix lxc-step 950 app @pve [13s]: Successfully installed vllm-0.6.3");
    r.end();
    expect(out).toHaveLength(4);
  });

  it("a quiet step says it is still running, once per heartbeat", () => {
    const { r, out, clock } = relay({ heartbeatMs: 60_000 });
    clock.t = 59_000;
    r.tick();
    expect(out).toEqual([]);
    clock.t = 61_000;
    r.tick();
    r.tick();
    clock.t = 125_000;
    r.tick();
    expect(out).toEqual(["phoenix lxc-step 950 app @pve [1m01s]: still running", "phoenix lxc-step 950 app @pve [2m05s]: still running"]);
  });

  it("lines reach the terminal without escape sequences, progress-bar carriage returns or control characters", () => {
    expect(progress.printable("\x1b[1;32mok\x1b[0m")).toBe("ok");
    expect(progress.printable(" 10%\r 55%\r100% done")).toBe("100% done");
    expect(progress.printable("a\x07b\x00c")).toBe("abc");
    expect(progress.printable("x".repeat(500))).toHaveLength(240);
  });

  it("each step is tagged and logged by its kind and identity", () => {
    expect(base.stepIdentity({ kind: "lxc-step", replaceOn: ["ctid", "step"] }, { params: { ctid: "950", step: "feature-vllm" }, connection: { host: "pve1" } as never })).toEqual({
      tag: "lxc-step 950 feature-vllm @pve1",
      logName: "lxc-step-950-feature-vllm",
    });
    const ds = base.stepIdentity({ kind: "host-zfs-dataset", replaceOn: ["pool", "name"] }, { params: { pool: "tank", name: "data/Models" }, connection: { host: "h" } as never });
    expect(ds.logName).toBe("host-zfs-dataset-tank-data_models");
    expect(base.stepIdentity({ kind: "host-initial-setup", replaceOn: [] }, { params: {}, connection: { host: "h" } as never }).logName).toBe("host-initial-setup");
  });
});

describe("phoenix:stepTimeouts", () => {
  it("names every dynamic kind there is", () => {
    expect([...timeouts.STEP_KINDS].sort()).toEqual(providerKinds.map((k) => k.kind).sort());
  });

  it("parses minutes per kind and refuses what it cannot use, naming the kind", () => {
    expect(timeouts.parseStepTimeouts('{"lxc-step": 120, "vm-cloud-init": "45"}')).toEqual({ timeouts: { "lxc-step": 7_200_000, "vm-cloud-init": 2_700_000 } });
    expect(timeouts.parseStepTimeouts(undefined)).toEqual({ timeouts: {} });
    expect(timeouts.parseStepTimeouts('{"lxc-steps": 5}')).toEqual({ problem: expect.stringContaining('unknown step kind "lxc-steps" (did you mean lxc-step?)') });
    expect(timeouts.parseStepTimeouts('{"lxc-step": 0}')).toEqual({ problem: "lxc-step: must be whole minutes 1-1440; got 0" });
    expect(timeouts.parseStepTimeouts('{"lxc-step": 1.5}')).toHaveProperty("problem");
    expect(timeouts.parseStepTimeouts("[1]")).toHaveProperty("problem");
    expect(settings.stackSettingProblems({ stepTimeouts: '{"lxc-step": 9999}' })).toEqual([{ key: "stepTimeouts", message: expect.stringMatching(/^must be a map of step kind → whole minutes 1-1440/) }]);
    expect(settings.stackSettingProblems({ stepTimeouts: '{"host-nvidia-driver": 90}' })).toEqual([]);
  });
});

describe("a long step against the real sshd", () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost();
  });
  afterAll(() => host?.stop());

  const kind = {
    kind: "lxc-step",
    params: z.object({ ctid: z.string(), step: z.string(), mode: z.string() }),
    replaceOn: ["ctid", "step"],
    timeoutMs: 60_000,
  };
  // Three stderr lines (the second carries the secret), then waits until the test has seen the
  // first one relayed (a file it creates): a relay that only printed at the end never gets there.
  // It reports the seconds its transport's `timeout` was given. mode=fail: 3000 lines, exit 1.
  const script = [
    "#!/usr/bin/env bash",
    'if [ "$PHOENIX_MODE" = fail ]; then for i in $(seq 3000); do echo "line $i of a long failure" >&2; done; exit 1; fi',
    'echo "downloading the model" >&2',
    'echo "token is $PHOENIX_TOKEN" >&2',
    "for i in $(seq 300); do [ -e /tmp/phoenix-progress-go ] && break; sleep 0.1; done",
    '[ -e /tmp/phoenix-progress-go ] || { echo "no progress line reached the client while the step ran" >&2; exit 1; }',
    'echo "model ready" >&2',
    "p=$$; secs=",
    'while [ "$p" -gt 1 ]; do if [ "$(cat /proc/$p/comm)" = timeout ]; then read -r -a a < <(tr "\\0" " " </proc/$p/cmdline); secs=${a[3]}; break; fi; p=$(awk "{print \\$4}" /proc/$p/stat); done',
    'echo "PHOENIX_RESULT {\\"secs\\":\\"$secs\\"}"',
  ].join("\n");
  const inputs = (mode: string) => ({
    connection: host.target,
    script,
    scriptHash: requireNode("node:crypto").createHash("sha256").update(script).digest("hex"),
    params: { ctid: "950", step: "app", mode },
    secretParams: { token: "s3cr3t-t0ken-value" },
    allowDestroy: false,
  });
  const provider = async (extra: Record<string, string> = {}) => {
    const p = base.hostScriptProvider(kind as never);
    await p.configure!({ config: stackConfig({ "phoenix:sshPrivateKey": host.secrets.privateKey, ...extra }) } as never);
    return p;
  };
  /** Runs fn with process.stderr captured; `onLine` sees each line as it is written. */
  const capture = async <T>(fn: () => Promise<T>, onLine: (l: string) => void = () => {}) => {
    const lines: string[] = [];
    const original = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      for (const l of String(chunk).split("\n").filter(Boolean)) {
        lines.push(l);
        onLine(l);
      }
      return true;
    }) as typeof process.stderr.write;
    try {
      return { result: await fn(), lines };
    } catch (err) {
      return { error: err as Error, lines };
    } finally {
      process.stderr.write = original;
    }
  };

  it("progress lines reach Pulumi's output while the step runs, secrets redacted; the host keeps the whole log", async () => {
    await host.exec("rm -f /tmp/phoenix-progress-go");
    const p = await provider();
    const { result, lines, error } = await capture(
      () => p.create!(inputs("ok")),
      (l) => {
        if (l.includes("downloading the model")) void host.exec("touch /tmp/phoenix-progress-go");
      },
    );
    expect(error).toBeUndefined();
    expect(lines[0]).toMatch(/^phoenix lxc-step 950 app @127\.0\.0\.1 \[\d+s\]: downloading the model$/);
    expect(lines.join("\n")).not.toContain("s3cr3t-t0ken-value");
    // The default timeout of the kind reached the transport.
    expect(result!.outs.observed).toEqual({ secs: "60" });
    const log = await host.exec("cat /var/log/phoenix/lxc-step-950-app.log; stat -c %a /var/log/phoenix/lxc-step-950-app.log");
    expect(log.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ create lxc-step \(ctid="950" step="app" mode="ok"\)\ndownloading the model\ntoken is \*\*\*\nmodel ready\n\d{4}-\d\d-\d\dT[\d:]+Z exit 0\n600\n$/);
  });

  it("a failure names the log, which holds all 3000 lines though the error keeps the tail; logs rotate, five kept", async () => {
    const p = await provider();
    for (let i = 0; i < 5; i++) await capture(() => p.update!("id", {}, inputs("fail")));
    const { error } = await capture(() => p.update!("id", {}, inputs("fail")));
    expect(error!.message).toMatch(/failed with exit code 1: .*line 3000 of a long failure; full log on the host: \/var\/log\/phoenix\/lxc-step-950-app\.log$/s);
    expect(error!.message).not.toContain("line 1 of a long failure\n");
    const log = await host.exec("grep -c 'of a long failure' /var/log/phoenix/lxc-step-950-app.log; ls /var/log/phoenix");
    expect(log.stdout).toBe("3000\nlxc-step-950-app.log\nlxc-step-950-app.log.1\nlxc-step-950-app.log.2\nlxc-step-950-app.log.3\nlxc-step-950-app.log.4\n");
  });

  it("the stack's phoenix:stepTimeouts sets the step's timeout; a bad value fails configure with the key", async () => {
    await host.exec("touch /tmp/phoenix-progress-go");
    const p = await provider({ "phoenix:stepTimeouts": '{"lxc-step": 7, "host-zfs-pool": 30}' });
    const { result } = await capture(() => p.create!(inputs("ok")));
    expect(result!.outs.observed).toEqual({ secs: "420" });
    await expect(provider({ "phoenix:stepTimeouts": '{"lxc-step": "soon"}' })).rejects.toThrow(/^phoenix:stepTimeouts: lxc-step: must be whole minutes/);
  });
});
