/**
 * Runs the official PACT conformance tool's CLI test run, plus the tool's own callback
 * handling, in one process. The tool's `run-tests-cli.ts` leaves the two callback tests
 * (13: RequestFulfilled, 14.B: RequestRejected) PENDING because it has no receiver; its web
 * server resolves them with `EventHandler.processEvent`. This script does the same: it
 * starts a plain HTTP receiver on 127.0.0.1:$RECEIVER_PORT whose POST /3/events hands each
 * event to the tool's EventHandler over the same ConsoleTestStorage, runs the TestRunWorker,
 * waits for the callbacks, and prints the final mandatory summary.
 *
 * It is copied into the tool's src/scripts/ (so its imports resolve) by the carbon-ledger
 * test; nothing of the tool is changed. Env: CONFORMANCE_API=http://127.0.0.1:$RECEIVER_PORT,
 * NODE_TLS_REJECT_UNAUTHORIZED=0 for a self-signed server certificate.
 * Args: BASE_URL CLIENT_ID CLIENT_SECRET
 */
import * as http from "http";
import { TestRunWorker } from "../services/test-run-worker";
import { ConsoleTestStorage } from "../services/console-test-storage";
import { EventHandler } from "../services/event-handler";
import { ApiVersion, TestCaseResultStatus } from "../services/types";

async function main(): Promise<void> {
  const [baseUrl, clientId, clientSecret] = process.argv.slice(2);
  const port = Number(process.env.RECEIVER_PORT);
  const storage = new ConsoleTestStorage();
  const handler = new EventHandler(storage);
  let received = 0;

  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      try {
        const payload = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        console.log(`RECEIVED ${req.method} ${req.url} ${payload.type}`);
        await handler.processEvent(payload, req.url ?? "");
        received++;
        res.writeHead(200).end();
      } catch (err: any) {
        console.log(`RECEIVER ERROR ${err?.message ?? err}`);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => receiver.listen(port, "127.0.0.1", resolve));

  const worker = new TestRunWorker(storage);
  const run = await worker.startTestRun({
    baseUrl,
    clientId,
    clientSecret,
    version: "V3.0" as ApiVersion,
    organizationName: "carbon-ledger",
    adminEmail: "cli@example.com",
    adminName: "CLI User",
  } as any);

  const deadline = Date.now() + Number(process.env.CALLBACK_WAIT_MS ?? 15000);
  let final = await storage.getTestRunWithResults(run.testRunId);
  while (Date.now() < deadline) {
    final = await storage.getTestRunWithResults(run.testRunId);
    if (!final.results.some((r) => r.status === TestCaseResultStatus.PENDING)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  receiver.close();

  const mandatory = final.results.filter((r) => r.mandatory);
  const count = (rs: typeof mandatory, s: TestCaseResultStatus) => rs.filter((r) => r.status === s).length;
  for (const r of final.results) {
    console.log(`RESULT ${r.status} ${r.mandatory ? "mandatory" : "optional"} ${r.testKey} ${r.name}${r.errorMessage ? " :: " + r.errorMessage : ""}`);
  }
  const passed = count(mandatory, TestCaseResultStatus.SUCCESS);
  const failed = count(mandatory, TestCaseResultStatus.FAILURE);
  const pending = count(mandatory, TestCaseResultStatus.PENDING);
  console.log(`CALLBACKS received=${received}`);
  console.log(`MANDATORY total=${mandatory.length} passed=${passed} failed=${failed} pending=${pending}`);
  console.log(`ALL total=${final.results.length} passed=${count(final.results, TestCaseResultStatus.SUCCESS)}`);
  process.exit(failed === 0 && pending === 0 && mandatory.length > 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
