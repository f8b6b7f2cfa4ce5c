package web

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path/filepath"
	"time"
)

//go:embed templates/admin/*.tmpl static/admin.css static/admin.js
var adminFiles embed.FS

// HTMXPath is htmx's script, installed by npm (make deps) into the same
// node_modules as livekit-client, whose bundle's folder is assetsDir
// (node_modules/livekit-client/dist).
func HTMXPath(assetsDir string) string {
	return filepath.Join(filepath.Dir(filepath.Dir(assetsDir)), "htmx.org", "dist", "htmx.min.js")
}

// AdminTemplates parses the control plane's page templates. Each page is a
// template set of its own: the layout plus the page, executed as "layout" (a full
// page) or as one of its blocks (the fragment an htmx request swaps in).
func AdminTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				k, _ := kv[i].(string)
				m[k] = kv[i+1]
			}
			return m
		},
	}
	pages, err := fs.Glob(adminFiles, "templates/admin/page_*.tmpl")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		name := filepath.Base(p)
		name = name[len("page_") : len(name)-len(".tmpl")]
		t, err := template.New(name).Funcs(funcs).ParseFS(adminFiles, "templates/admin/layout.tmpl", "templates/admin/parts.tmpl", p)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// AdminStatic serves the control plane's stylesheet and script (under /static/).
func AdminStatic() http.Handler {
	sub, _ := fs.Sub(adminFiles, "static")
	return http.StripPrefix("/static", http.FileServerFS(sub))
}
