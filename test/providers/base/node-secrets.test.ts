// Per-node SSH secrets of a cluster stack (issue 16): a connection with `secretsNode` authenticates
// with that node's own secrets from `phoenix:nodes` in the provider's configure config, each
// falling back to the flat `phoenix:ssh*` secret; without it, the flat secrets are used. Neither
// reaches the serialized provider or the resource inputs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";
import { captureResources, loadProvider, stackConfig } from "../harness";
import { etcFileKind, etcFileScript } from "./etc-file-kind";

const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");

/** Pulumi's marker of a secret value, as a structured value's secure leaf may arrive. */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

describe("secretsFromConfig / providerSecrets with phoenix:nodes", () => {
  const nodes = JSON.stringify({ pve1: { sshHost: "a" }, pve2: { sshHost: "b", sshPassword: "pw-pve2", sshPrivateKey: "KEY-pve2" } });
  const config = stackConfig({ "phoenix:sshPrivateKey": "KEY-flat", "phoenix:sshPrivateKeyPassphrase": "pp-flat", "phoenix:sshPassword": "pw-flat", "phoenix:nodes": nodes });

  it("a node's own secrets win, the rest fall back to the flat ones", () => {
    expect(ssh.secretsFromConfig(config, "pve2")).toMatchObject({ privateKey: "KEY-pve2", passphrase: "pp-flat", password: "pw-pve2" });
    expect(ssh.secretsFromConfig(config, "pve1")).toMatchObject({ privateKey: "KEY-flat", passphrase: "pp-flat", password: "pw-flat" });
    expect(ssh.secretsFromConfig(config)).toMatchObject({ privateKey: "KEY-flat", password: "pw-flat" });
    expect(ssh.nodeSecretsFromConfig(config, "pve2")).toEqual({ privateKey: "KEY-pve2", password: "pw-pve2" });
    expect(ssh.nodeSecretsFromConfig(config, "pve9")).toEqual({});
  });

  it("reads phoenix:nodes given as an object with secret-wrapped leaves too", () => {
    const asObject = { get: (k: string) => (k === "phoenix:nodes" ? ({ pve2: { sshPassword: { [SECRET_SIG_KEY]: SECRET_SIG, value: "pw-wrapped" } } } as unknown as string) : undefined) };
    expect(ssh.nodeSecretsFromConfig(asObject, "pve2")).toEqual({ password: "pw-wrapped" });
    expect(ssh.nodeSecretsFromConfig({ get: () => "not json" }, "pve2")).toEqual({});
  });

  it("providerSecrets.get picks by the connection's secretsNode after configure", async () => {
    const s = base.providerSecrets();
    await s.configure({ config } as never);
    expect(s.get({ secretsNode: "pve2" })).toMatchObject({ privateKey: "KEY-pve2", passphrase: "pp-flat", password: "pw-pve2" });
    expect(s.get({})).toMatchObject({ privateKey: "KEY-flat", password: "pw-flat" });
    expect(s.get()).toMatchObject({ privateKey: "KEY-flat" });
  });
});

describe("a node's own key reaches its node", () => {
  let host: TestHost;
  let keys: string;
  let stranger: string;
  beforeAll(async () => {
    host = await startTestHost();
    keys = mkdtempSync(path.join(os.tmpdir(), "phoenix-node-keys-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "stranger", "-f", path.join(keys, "stranger")]);
    stranger = readFileSync(path.join(keys, "stranger"), "utf8");
  });
  afterAll(() => {
    host?.stop();
    if (keys) rmSync(keys, { recursive: true, force: true });
  });

  /** A dynamic resource on `connection`, its provider configured with a wrong flat key and the test host's key for node pve2. */
  async function declare(name: string, connection: Record<string, unknown>) {
    const [r] = (
      await captureResources(() => new base.HostScriptResource(etcFileKind, `node-secrets-${name}`, { connection: connection as never, script: etcFileScript, params: { name, content: "x", mode: "600" } }))
    ).filter((x) => x.provider);
    const provider = await loadProvider(r.provider!);
    await provider.configure!({
      config: stackConfig({ "phoenix:sshPrivateKey": stranger, "phoenix:nodes": JSON.stringify({ pve2: { sshHost: "127.0.0.1", sshPrivateKey: host.secrets.privateKey } }) }),
    });
    return { r, provider };
  }

  it("with secretsNode the node's key authenticates; the flat (wrong) key is not used", async () => {
    const { r, provider } = await declare("pve2-own", { ...host.target, secretsNode: "pve2" });
    const created = await provider.create(r.inputs);
    expect(created.id).toContain("etc-file:127.0.0.1:");
    for (const text of [r.provider!, JSON.stringify(r.inputs)]) {
      for (const line of host.secrets.privateKey.split("\n").filter((l) => l.length > 20)) expect(text.includes(line)).toBe(false);
    }
  });

  it("without secretsNode the flat key is used, and refused", async () => {
    const { r, provider } = await declare("flat", { ...host.target });
    await expect(provider.create(r.inputs)).rejects.toThrow(/authentication to root@127\.0\.0\.1:\d+ failed/);
  });
});
