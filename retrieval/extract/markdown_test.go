package extract

import "testing"

func TestMarkdown(t *testing.T) {
	src := "---\ntitle: \"Onboarding guide\"\nowner: HR\n---\n" +
		"# Welcome\n\n" +
		"Read the **handbook** and the [IT policy](https://example.com/it) first.\n" +
		"Second line of the paragraph.\n\n" +
		"## Checklist\n\n" +
		"- Laptop\n- Badge with `photo`\n  - nested item\n\n" +
		"1. Sign contract\n2. Meet team\n\n" +
		"![Office map](map.png)\n\n" +
		"> Quoted <span class=\"x\">advice</span>.\n\n" +
		"```sh\nssh-keygen -t ed25519\n```\n\n" +
		"| Day | Task |\n|-----|------|\n| 1 | Setup |\n\n" +
		"<div align=\"center\">Raw <b>HTML</b> block</div>\n\n" +
		"Escaped \\*stars\\* &amp; entities &copy;\n"
	doc := mustExtract(t, "guide.md", []byte(src))
	want := "Welcome\n\n" +
		"Read the handbook and the IT policy first. Second line of the paragraph.\n\n" +
		"Checklist\n\n" +
		"- Laptop\n- Badge with photo\n- nested item\n\n" +
		"1. Sign contract\n2. Meet team\n\n" +
		"Office map\n\n" +
		"Quoted advice.\n\n" +
		"ssh-keygen -t ed25519\n\n" +
		"Day | Task\n1 | Setup\n\n" +
		"Raw HTML block\n\n" +
		"Escaped *stars* & entities ©"
	if doc.Text != want {
		t.Errorf("Text =\n%q\nwant\n%q", doc.Text, want)
	}
	if doc.Title != "Onboarding guide" || doc.Format != Markdown {
		t.Errorf("Title, Format = %q, %q", doc.Title, doc.Format)
	}
}

func TestMarkdownTitleFromHeading(t *testing.T) {
	doc := mustExtract(t, "a.md", []byte("Intro text.\n\n# Main title\n\nMore.\n\n---\n\nAfter a rule."))
	if doc.Title != "Main title" {
		t.Errorf("Title = %q; want %q", doc.Title, "Main title")
	}
	if doc.Text != "Intro text.\n\nMain title\n\nMore.\n\nAfter a rule." {
		t.Errorf("Text = %q", doc.Text)
	}
}

func TestMarkdownNotUTF8(t *testing.T) {
	wantError(t, "a.md", []byte("# caf\xe9"), Limits{}, ErrMalformed, "UTF-8")
}
