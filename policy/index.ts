// The Phoenix policy pack. Run it with a preview or an update:
//   pulumi preview --stack dev --policy-pack policy --policy-pack-config policy/config.dev.json
// The rules themselves are in rules.ts (unit-tested in rules.test.ts).
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./rules";

new PolicyPack("phoenix-proxmox", {
  description: "What a reviewer of a Phoenix (Proxmox VE) change wants enforced before it is applied.",
  policies,
});
