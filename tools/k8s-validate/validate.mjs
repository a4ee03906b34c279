// Validates every document of the given YAML files against the Kubernetes and KEDA schemas
// (kubernetes-models, @kubernetes-models/keda). Prints "ok <kind>/<name>" per document; exits 1 on any error.
// Usage: node validate.mjs [--json out.json] <file.yaml>...   (--json also writes every document, as JSON, for tests to inspect)
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import * as core from "kubernetes-models/v1";
import * as apps from "kubernetes-models/apps/v1";
import * as autoscaling from "kubernetes-models/autoscaling/v2";
import * as policy from "kubernetes-models/policy/v1";
import * as keda from "@kubernetes-models/keda/keda.sh/v1alpha1";

const models = {
  "v1": core,
  "apps/v1": apps,
  "autoscaling/v2": autoscaling,
  "policy/v1": policy,
  "keda.sh/v1alpha1": keda,
};

const args = process.argv.slice(2);
const jsonOut = args[0] === "--json" ? args.splice(0, 2)[1] : null;
const all = [];
let failures = 0;
for (const file of args) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length > 0) { console.error(`${file}: ${doc.errors[0].message}`); failures++; continue; }
    const data = doc.toJS();
    if (data === null) continue;
    all.push(data);
    const name = `${data.kind}/${data.metadata?.name}`;
    const Model = models[data.apiVersion]?.[data.kind];
    if (!Model) { console.error(`${file}: ${name}: no schema for ${data.apiVersion} ${data.kind}`); failures++; continue; }
    try {
      new Model(data).validate();
      console.log(`ok ${name}`);
    } catch (e) {
      console.error(`${file}: ${name}: ${e.message}`);
      failures++;
    }
  }
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(all, null, 1));
process.exit(failures > 0 ? 1 : 0);
