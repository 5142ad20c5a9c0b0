// Schema validation of the deployment files in docker/ (run by tests/manifests/check_manifests.py,
// or directly: node tools/manifest-schema/validate.mjs docker/compose.yaml docker/k8s/*.yaml).
//  - Kubernetes objects: the JSON schemas of the Kubernetes OpenAPI spec, as compiled by the
//    kubernetes-models package (types, required fields, enums such as completionMode and
//    concurrencyPolicy), one object per YAML document, chosen by apiVersion and kind.
//  - Compose files (a top-level `services`): the compose-spec JSON schema (from dclint).
// Prints one line per document; exits 1 if any is invalid. Needs `npm ci` in this folder first.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import Ajv from "ajv";

let failed = 0;
let checked = 0;

function composeValidator() {
  // The compose-spec JSON schema (draft-07) as shipped by dclint; dclint itself (run by
  // check_manifests.py) also checks its formats (durations, ports) and lint rules.
  const url = new URL("node_modules/dclint/schemas/compose.schema.json", import.meta.url);
  const schema = JSON.parse(readFileSync(url, "utf8"));
  delete schema.$schema; // "https://json-schema.org/draft-07/schema": Ajv's default, under another name
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, logger: false });
  return ajv.compile(schema);
}

async function validateKubernetes(doc) {
  const [group, version] = doc.apiVersion.includes("/") ? doc.apiVersion.split("/") : ["", doc.apiVersion];
  const dir = group ? `${group}/${version}` : version;
  let mod;
  try {
    mod = await import(`kubernetes-models/${dir}/${doc.kind}`);
  } catch {
    return `unknown apiVersion/kind ${doc.apiVersion} ${doc.kind}`;
  }
  const Model = mod[doc.kind] ?? mod.default;
  try {
    new Model(doc).validate();
    return null;
  } catch (e) {
    return e.message;
  }
}

let compose;
for (const file of process.argv.slice(2)) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  let index = 0;
  for (const d of docs) {
    index++;
    if (d.errors.length) {
      console.log(`INVALID ${file}#${index}: YAML: ${d.errors[0].message}`);
      failed++;
      continue;
    }
    const doc = d.toJS();
    if (doc == null) continue;
    let error;
    let what;
    if (doc.apiVersion && doc.kind) {
      what = `${doc.apiVersion} ${doc.kind} ${doc.metadata?.name ?? ""}`;
      error = await validateKubernetes(doc);
    } else if (doc.services) {
      what = "compose file";
      compose ??= composeValidator();
      error = compose(doc) ? null : compose.errors.map((e) => `${e.instancePath || "/"} ${e.message}`).join("; ");
    } else {
      what = "?";
      error = "neither a Kubernetes object (apiVersion, kind) nor a compose file (services)";
    }
    checked++;
    if (error) {
      failed++;
      console.log(`INVALID ${file}#${index} (${what}): ${error}`);
    } else {
      console.log(`valid   ${file}#${index} (${what})`);
    }
  }
}
console.log(`schema validation: ${checked - failed} valid, ${failed} invalid`);
process.exit(failed || checked === 0 ? 1 : 0);
