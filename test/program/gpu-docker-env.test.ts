// The docker feature's parameters: a container with GPUs gets the NVIDIA Container Toolkit
// (docker_gpus), with the toolkit's cgroup handling off when the container is unprivileged
// (docker_no_cgroups); a container without GPUs gets neither.
import { afterAll, expect, it } from "vitest";
import { loadDist } from "../load";
import { cleanTempDirs, loadModel, mutatedDir } from "../config/helpers";

const lxc = loadDist<typeof import("../../infra/components/lxc")>("infra/components/lxc");
afterAll(() => cleanTempDirs());

it("docker in GPU containers: the toolkit, no-cgroups when unprivileged; none without GPUs", () => {
  const model = loadModel(
    mutatedDir((f) => {
      f.lxc.lxc_configs["955"].features = ["ollama", "docker"];
    }),
  );
  const ct = (id: number) => model.containers.find((c) => c.ctid === id)!;
  expect(lxc.featureEnv("docker", ct(955), model)).toEqual({ env_docker_gpus: "1", env_docker_no_cgroups: "1" });
  // A privileged GPU container keeps the toolkit's cgroup handling.
  expect(lxc.featureEnv("docker", { ...ct(955), unprivileged: false }, model)).toEqual({ env_docker_gpus: "1", env_docker_no_cgroups: "0" });
  expect(lxc.featureEnv("docker", ct(902), model)).toEqual({});
});
