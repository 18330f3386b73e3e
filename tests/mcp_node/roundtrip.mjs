// One full round trip with the official MCP TypeScript SDK client over stdio:
// initialize, tools/list, tools/call remember then recall. Prints one JSON line of what it saw.
// Usage: node roundtrip.mjs COMMAND [ARG...]   (the server's environment and cwd are inherited)
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [command, ...args] = process.argv.slice(2);
const transport = new StdioClientTransport({
  command, args, env: process.env, cwd: process.cwd(), stderr: "inherit",
});
const client = new Client({ name: "typescript-sdk-test", version: "1.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const stored = await client.callTool({
  name: "remember", arguments: { content: "Round trip from the TypeScript SDK", tags: ["ts"] },
});
const recalled = await client.callTool({ name: "recall", arguments: { query: "typescript" } });
const refused = await client.callTool({ name: "recall", arguments: { limit: 0 } });
const report = {
  serverVersion: client.getServerVersion(),
  tools: tools.tools.map((tool) => tool.name),
  stored: stored.structuredContent,
  storedError: stored.isError,
  recalled: recalled.structuredContent,
  refused: { isError: refused.isError, text: refused.content[0].text },
};
await client.close();
process.stdout.write(JSON.stringify(report) + "\n");
