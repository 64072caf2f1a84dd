// A small Markdown renderer for model output: the text is HTML-escaped first, so nothing the model writes can become
// markup; only the tags made here are produced (fenced code, inline code, headings, lists, quotes, rules, bold,
// italics, http(s) links). An unclosed fence (a reply still streaming) renders as a code block so far.
"use strict";
(function (root) {
  const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ESC[c]);

  /// Inline spans of one escaped-on-the-way line: `code` is taken out first so nothing inside it is formatted.
  function inline(text) {
    const parts = text.split(/(`+[^`]*?`+)/);
    return parts.map((part, i) => {
      if (i % 2 === 1) {
        const m = part.match(/^(`+)([^`]*?)\1$/);
        if (m) return "<code>" + escapeHtml(m[2]) + "</code>";
      }
      // Links are set aside (as private-use placeholders) so emphasis never reaches inside a URL.
      const links = [];
      let s = escapeHtml(part.replace(/[\uE000\uE001]/g, ""));
      s = s.replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, (_, label, url) => {
        links.push([label, url]);
        return "\uE000" + (links.length - 1) + "\uE001";
      });
      s = s.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>").replace(/(^|[^_\w])__([^_]+?)__(?!\w)/g, "$1<strong>$2</strong>");
      s = s.replace(/(^|[^*\w])\*([^*\s][^*]*?)\*(?!\w)/g, "$1<em>$2</em>");
      s = s.replace(/(^|[^_\w])_([^_\s][^_]*?)_(?!\w)/g, "$1<em>$2</em>");
      return s.replace(/\uE000(\d+)\uE001/g, (_, k) =>
        `<a href="${links[k][1]}" target="_blank" rel="noopener noreferrer">${links[k][0]}</a>`);
    }).join("");
  }

  /// Markdown source -> HTML string (every character of `src` outside the generated tags is escaped).
  function render(src) {
    const lines = String(src).replace(/\r\n?/g, "\n").split("\n");
    const out = [];
    let para = [], list = null;
    const flushPara = () => { if (para.length) out.push("<p>" + para.map(inline).join("<br>") + "</p>"); para = []; };
    const flushList = () => { if (list) out.push(`<${list.tag}>` + list.items.map((t) => "<li>" + inline(t) + "</li>").join("") + `</${list.tag}>`); list = null; };
    const flush = () => { flushPara(); flushList(); };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const fence = line.match(/^\s*(```+|~~~+)\s*([\w+#.-]*)/);
      if (fence) {
        flush();
        const code = [];
        let j = i + 1;
        while (j < lines.length && !lines[j].trim().startsWith(fence[1])) code.push(lines[j++]);
        const lang = fence[2] ? ` class="language-${escapeHtml(fence[2])}"` : "";
        out.push(`<pre><code${lang}>` + escapeHtml(code.join("\n")) + "</code></pre>");
        i = j;
        continue;
      }
      let m;
      if (/^\s*$/.test(line)) { flush(); continue; }
      if ((m = line.match(/^(#{1,6})\s+(.*)$/))) { flush(); out.push(`<h${m[1].length}>` + inline(m[2]) + `</h${m[1].length}>`); continue; }
      if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { flush(); out.push("<hr>"); continue; }
      if ((m = line.match(/^>\s?(.*)$/))) { flush(); out.push("<blockquote>" + inline(m[1]) + "</blockquote>"); continue; }
      if ((m = line.match(/^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/))) {
        flushPara();
        const tag = m[1] ? "ul" : "ol";
        if (!list || list.tag !== tag) { flushList(); list = { tag, items: [] }; }
        list.items.push(m[3]);
        continue;
      }
      if (list && /^\s{2,}\S/.test(line)) { list.items[list.items.length - 1] += " " + line.trim(); continue; }
      flushList();
      para.push(line);
    }
    flush();
    return out.join("");
  }

  const api = { render, escapeHtml };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.FolioMarkdown = api;
})(this);
