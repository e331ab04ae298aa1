/** The text of a message or tool-result content: a string, or the `text` of each block joined. */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((c) => (typeof c === "object" && c !== null && "text" in c && typeof c.text === "string" ? c.text : "")).join("");
  }
  return content === undefined || content === null ? "" : JSON.stringify(content);
}
