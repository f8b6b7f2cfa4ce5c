package extract

import "testing"

func TestHTML(t *testing.T) {
	page := `<!DOCTYPE html>
<html><head><title>Expenses &amp; travel</title>
<style>p { color: red }</style><script>alert("no")</script>
<meta charset="utf-8"></head>
<body>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<h1>Travel   policy</h1>
<p>Book trains in <b>standard</b> class&nbsp;only.<br>Flights need approval.</p>
<div>Claims are paid monthly.<div>Nested block.</div></div>
<ul><li>Receipts</li><li>Mileage <em>logs</em></li></ul>
<ol start="3"><li>Third</li><li>Fourth</li></ol>
<table><tr><th>Band</th><th>Limit</th></tr><tr><td>A</td><td>&pound;100</td></tr></table>
<p><img src="chart.png" alt="Spending chart"> Figure 1.</p>
<pre>line one
  line two</pre>
<p hidden>Hidden text.</p><template><p>Template.</p></template>
<noscript>Enable JavaScript.</noscript>
<footer>Updated 2026.</footer>
</body></html>`
	doc := mustExtract(t, "travel.html", []byte(page))
	want := "Travel policy\n\n" +
		"Book trains in standard class only.\nFlights need approval.\n\n" +
		"Claims are paid monthly.\n\nNested block.\n\n" +
		"- Receipts\n- Mileage logs\n\n" +
		"3. Third\n4. Fourth\n\n" +
		"Band | Limit\nA | £100\n\n" +
		"Spending chart Figure 1.\n\n" +
		"line one\n  line two\n\n" +
		"Updated 2026."
	if doc.Text != want {
		t.Errorf("Text =\n%q\nwant\n%q", doc.Text, want)
	}
	if doc.Title != "Expenses & travel" || doc.Format != HTML {
		t.Errorf("Title, Format = %q, %q; want %q, html", doc.Title, doc.Format, "Expenses & travel")
	}
}

func TestHTMLTitleFromH1(t *testing.T) {
	doc := mustExtract(t, "a.html", []byte("<html><body><svg><title>icon</title></svg><h1>First <i>heading</i></h1><h1>Second</h1><p>Body.</p>"))
	if doc.Title != "First heading" {
		t.Errorf("Title = %q; want %q", doc.Title, "First heading")
	}
	if doc.Text != "First heading\n\nSecond\n\nBody." {
		t.Errorf("Text = %q", doc.Text)
	}
}

func TestHTMLMalformed(t *testing.T) {
	cases := map[string]string{
		"unclosed head":  "<html><head><title>T</title><p>Body text.",
		"unclosed tags":  "<p>One<p>Two<div><span>Three",
		"stray ends":     "</div></p>One</li> two",
		"bad entities":   "<p>&bogus; &#xZZ; &#99999999; ok</p>",
		"windows-1252":   "<html><head><meta charset=\"windows-1252\"></head><body><p>caf\xe9</p>",
		"unclosed title": "<title>Only a title",
	}
	for name, src := range cases {
		doc, err := Extract(t.Context(), name+".html", []byte(src), Limits{})
		t.Logf("%s: %q %q %v", name, doc.Title, doc.Text, err)
	}
	if doc := mustExtract(t, "a.html", []byte(cases["unclosed head"])); doc.Text != "Body text." {
		t.Errorf("unclosed head: Text = %q; want %q", doc.Text, "Body text.")
	}
	if doc := mustExtract(t, "a.html", []byte(cases["windows-1252"])); doc.Text != "café" {
		t.Errorf("windows-1252: Text = %q; want %q", doc.Text, "café")
	}
	if doc := mustExtract(t, "a.html", []byte(cases["unclosed tags"])); doc.Text != "One\n\nTwo\n\nThree" {
		t.Errorf("unclosed tags: Text = %q", doc.Text)
	}
}
