// End to end: @microsoft/microsoft-graph-client's BatchRequestContent against mailgraph (issue 13).
// MAILGRAPH_URL and MAILGRAPH_TOKEN come from the pytest wrapper (tests/e2e/test_batch_js.py).
// Node 20's Request needs absolute URLs, and graph-client 3.0.7 strips only the host: the documented
// workaround is the host without the version (docs/batching.md).
import { Client, BatchRequestContent, BatchResponseContent } from "@microsoft/microsoft-graph-client";
import assert from "node:assert/strict";

const base = process.env.MAILGRAPH_URL;
const token = process.env.MAILGRAPH_TOKEN;
const client = Client.init({ authProvider: (done) => done(null, token), baseUrl: base, defaultVersion: "v1.0" });
const json = { "Content-Type": "application/json" };
const draft = (subject) => ({ subject, body: { contentType: "Text", content: "hi" },
  toRecipients: [{ emailAddress: { address: "bob@fabrikam.test" } }] });

async function post(steps) {
  const content = new BatchRequestContent(steps);
  // the auth middleware serves https hosts only and deletes "Authorization" on others: lower case survives
  const raw = await client.api("/$batch").header("authorization", `Bearer ${token}`).post(await content.getContent());
  return new BatchResponseContent(raw);
}

// 1. parallel: create three drafts
const created = await post([1, 2, 3].map((n) => ({ id: `c${n}`,
  request: new Request(`${base}/me/messages`, { method: "POST", headers: json, body: JSON.stringify(draft(`js ${n}`)) }) })));
const ids = [];
for (const n of [1, 2, 3]) {
  const r = created.getResponseById(`c${n}`);
  assert.equal(r.status, 201);
  ids.push((await r.json()).id);
}
// 2. sequential dependsOn chain: update each draft, then list the drafts
const chain = [
  ...ids.map((id, i) => ({ id: `u${i}`, dependsOn: i ? [`u${i - 1}`] : undefined,
    request: new Request(`${base}/me/messages/${encodeURIComponent(id)}`, { method: "PATCH", headers: json,
      body: JSON.stringify({ subject: `updated ${i}` }) }) })),
  { id: "list", dependsOn: [`u${ids.length - 1}`],
    request: new Request(`${base}/me/mailFolders/drafts/messages?$select=subject&$top=50`, { method: "GET" }) },
];
const updated = await post(chain);
for (let i = 0; i < ids.length; i++) assert.equal(updated.getResponseById(`u${i}`).status, 200);
const listed = await updated.getResponseById("list").json();
const subjects = listed.value.map((m) => m.subject);
for (let i = 0; i < ids.length; i++) assert.ok(subjects.includes(`updated ${i}`), subjects.join(","));
// 3. a 424 chain: the first fails, its dependents are not run
const failing = await post([
  { id: "f1", request: new Request(`${base}/me/messages/AAMkNotThere=`, { method: "GET" }) },
  { id: "f2", dependsOn: ["f1"], request: new Request(`${base}/me/mailFolders`, { method: "GET" }) },
  { id: "f3", dependsOn: ["f2"], request: new Request(`${base}/me/mailFolders`, { method: "GET" }) },
]);
assert.ok(failing.getResponseById("f1").status >= 400);
assert.equal(failing.getResponseById("f2").status, 424);
assert.equal(failing.getResponseById("f3").status, 424);
// 4. the SDK's default (full URL with the version) gets Graph's per-item 400
const versioned = await post([{ id: "v", request: new Request(`${base}/v1.0/me/mailFolders`, { method: "GET" }) }]);
assert.equal(versioned.getResponseById("v").status, 400);
console.log("batch e2e ok");
