package extract

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
)

// markdown renders CommonMark with the GitHub extensions (tables,
// strikethrough, task lists, autolinks). Raw HTML is passed through so that
// the HTML reader strips its tags but keeps the words inside them; the
// rendered page never leaves this package.
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.GFM),
	goldmark.WithRendererOptions(gmhtml.WithUnsafe()),
)

// extractMarkdown reads a Markdown file: goldmark renders it to HTML, which
// extractHTML reads, so the rules are the HTML ones. Headings become their
// own paragraphs, list items lines ("- " or "N. "), links keep their text,
// images their alt text, HTML inside the Markdown loses its tags and code
// blocks are kept as text with their lines (policies quote commands and
// settings that people ask about). A YAML front matter block is dropped; its
// "title:" gives the title, else the first level-one heading does.
func extractMarkdown(data []byte, lim Limits) (Document, error) {
	src, err := decodeText(data)
	if err != nil {
		return Document{}, err
	}
	body, title := frontMatter(src)
	var out bytes.Buffer
	if err := markdown.Convert([]byte(body), &out); err != nil {
		return Document{}, problem(ErrMalformed, err, "the Markdown could not be read")
	}
	doc, err := htmlText(out.Bytes(), lim)
	if err != nil {
		return Document{}, err
	}
	if title != "" {
		doc.Title = title
	}
	return doc, nil
}

// frontMatter splits a leading YAML front matter block ("---" lines around
// it) from the Markdown and returns its "title:" value, unquoted.
func frontMatter(src string) (body, title string) {
	src = strings.TrimPrefix(src, "\ufeff")
	first, rest, ok := strings.Cut(src, "\n")
	if !ok || strings.TrimSpace(first) != "---" {
		return src, ""
	}
	const maxLines = 200
	for i := 0; i < maxLines && rest != ""; i++ {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimRight(line, "\r")
		if line == "---" || line == "..." {
			return rest, title
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "title" && title == "" {
			title = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return src, "" // not front matter after all: a rule at the top of the page
}
