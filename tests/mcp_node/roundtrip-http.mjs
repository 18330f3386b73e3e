// One full round trip with the official MCP TypeScript SDK client over Streamable HTTP:
// initialize, tools/list, tools/call remember then recall, a refused call, session end.
// Usage: MNEMOSYNE_API_TOKEN=... node roundtrip-http.mjs URL   Prints one JSON line.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${process.env.MNEMOSYNE_API_TOKEN}` } },
});
const client = new Client({ name: "typescript-sdk-http-test", version: "1.0.0" });
await client.connect(transport);
const sessionId = transport.sessionId;
const tools = await client.listTools();
const stored = await client.callTool({
  name: "remember", arguments: { content: "Round trip over HTTP from TypeScript", tags: ["ts"] },
});
const recalled = await client.callTool({ name: "recall", arguments: { query: "typescript" } });
const refused = await client.callTool({ name: "recall", arguments: { limit: 0 } });
await transport.terminateSession();
await client.close();
process.stdout.write(JSON.stringify({
  serverVersion: client.getServerVersion(),
  sessionId,
  tools: tools.tools.map((tool) => tool.name),
  stored: stored.structuredContent,
  recalled: recalled.structuredContent,
  refused: { isError: refused.isError, text: refused.content[0].text },
}) + "\n");
