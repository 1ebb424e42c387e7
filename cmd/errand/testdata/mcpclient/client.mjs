// The reference TypeScript MCP SDK as a client of errand, for
// cmd/errand's TestMCPTypeScriptSDK. It does what an assistant would and
// prints a JSON report on stdout; the Go test judges it.
//
// The test gives, in ERRAND_MCP_TEST (JSON):
//   transport "stdio" (command, args: errand mcp ...) or "http" (url, key, badKey)
//   product: a page with a product to read; slow: a page that answers in
//   2 s; gate: a page that never answers.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const cfg = JSON.parse(process.env.ERRAND_MCP_TEST);
const report = {};

function transport(key) {
  if (cfg.transport === "stdio") {
    return new StdioClientTransport({ command: cfg.command, args: cfg.args, stderr: "ignore" });
  }
  return new StreamableHTTPClientTransport(new URL(cfg.url), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitForTasks(client, args, n) {
  for (let i = 0; i < 500; i++) {
    const res = await client.callTool({ name: "list_tasks", arguments: args });
    const tasks = res.structuredContent?.tasks ?? [];
    if (tasks.length >= n) return tasks;
    await sleep(20);
  }
  throw new Error(`list_tasks ${JSON.stringify(args)} never listed ${n} tasks`);
}

const client = new Client({ name: "errand-ts-test", version: "1.0.0" });
await client.connect(transport(cfg.key));
report.server = client.getServerVersion();

// The tools, and their input schemas as a JSON Schema 2020-12 validator
// reads them.
const { tools } = await client.listTools();
report.tools = tools.map((t) => t.name).sort();
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
report.schemaErrors = {};
const validators = {};
for (const t of tools) {
  try {
    validators[t.name] = ajv.compile(t.inputSchema);
  } catch (e) {
    report.schemaErrors[t.name] = String(e);
  }
}
const runArgs = {
  taskDetails: "The product's name and price",
  startingPoint: cfg.product,
  outputType: "structured_json",
  outputSchema: { type: "object", required: ["name", "price"], properties: { name: { type: "string" }, price: { type: "number" } } },
};
report.runArgsValid = validators.run_task?.(runArgs) ?? false;
report.badArgsValid = validators.run_task?.({ taskDetails: "x", outputType: "xml" }) ?? true;

// A task.
const run = await client.callTool({ name: "run_task", arguments: runArgs }, undefined, { timeout: 120000 });
report.run = run.structuredContent;
report.runIsError = run.isError ?? false;

// A slower one, with progress.
report.progress = [];
const slow = await client.callTool({ name: "run_task", arguments: { taskDetails: "The news", startingPoint: cfg.slow } }, undefined, {
  onprogress: (p) => report.progress.push(p),
  timeout: 120000,
});
report.slow = slow.structuredContent;
const task = await client.callTool({
  name: "get_task",
  arguments: { sessionId: slow.structuredContent.sessionId, taskId: slow.structuredContent.taskId },
});
report.steps = task.structuredContent.steps;

// A bad argument: the API's field-by-field answer.
const bad = await client.callTool({ name: "run_task", arguments: { taskDetails: "x", startingPoint: cfg.product, outputType: "xml" } });
report.bad = bad.structuredContent;
report.badIsError = bad.isError ?? false;

// Cancelling a call stops its task.
const abort = new AbortController();
const cancelled = client
  .callTool({ name: "run_task", arguments: { taskDetails: "Read it", startingPoint: cfg.gate } }, undefined, { signal: abort.signal, timeout: 120000 })
  .then(() => "answered", (e) => String(e));
await waitForTasks(client, { status: "running" }, 1);
abort.abort("the user changed their mind");
report.cancelError = await cancelled;
report.cancelled = (await waitForTasks(client, { status: "cancelled" }, 1))[0];

await client.close();

// A wrong key is refused (over HTTP).
if (cfg.transport === "http") {
  const other = new Client({ name: "errand-ts-test", version: "1.0.0" });
  try {
    await other.connect(transport(cfg.badKey));
    report.badKeyError = "";
  } catch (e) {
    report.badKeyError = String(e);
  }
}

process.stdout.write(JSON.stringify(report) + "\n");
