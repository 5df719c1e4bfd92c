package collector

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestFilesUseOnlyFilesBelow: docs/development.md lists the collector's
// files from the top down and promises that each uses only files below it,
// and that every method of a type is in the type's file. A name declared
// at the top of one file (a type, function, variable or constant) and used
// in a file listed below it, or a method away from its type, fails here,
// naming both files.
func TestFilesUseOnlyFilesBelow(t *testing.T) {
	doc, err := os.ReadFile("../docs/development.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "### The collector's files")
	if !ok {
		t.Fatal(`docs/development.md has no "### The collector's files" section`)
	}
	table, _, _ = strings.Cut(table, "\n#")
	var order []string // top first
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z]+\\.go)` \\|").FindAllStringSubmatch(table, -1) {
		order = append(order, m[1])
	}

	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	paths, _ := filepath.Glob("*.go")
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = f
	}
	var missing, extra []string
	for name := range files {
		if !slices.Contains(order, name) {
			missing = append(missing, name)
		}
	}
	for _, name := range order {
		if files[name] == nil {
			extra = append(extra, name)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("docs/development.md's collector files differ from the tree: not listed %v, listed but absent %v", missing, extra)
	}

	// Where each top-level name and each type is declared.
	declared := map[string]string{}
	for name, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					declared[d.Name.Name] = name
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						declared[s.Name.Name] = name
					case *ast.ValueSpec:
						for _, n := range s.Names {
							declared[n.Name] = name
						}
					}
				}
			}
		}
	}
	rank := func(file string) int { return slices.Index(order, file) }
	for name, f := range files {
		// Names a file declares for itself (parameters, locals) hide the
		// top-level ones of the same name: leave those names out.
		own := map[string]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Field:
				for _, id := range n.Names {
					own[id.Name] = true
				}
			case *ast.AssignStmt:
				if n.Tok == token.DEFINE {
					for _, l := range n.Lhs {
						if id, ok := l.(*ast.Ident); ok {
							own[id.Name] = true
						}
					}
				}
			case *ast.RangeStmt:
				for _, e := range []ast.Expr{n.Key, n.Value} {
					if id, ok := e.(*ast.Ident); ok {
						own[id.Name] = true
					}
				}
			}
			return true
		})
		u := uses{t: t, file: name, own: own, declared: declared, rank: rank}
		ast.Inspect(f, u.visit)
	}
}

// uses checks the names one file uses.
type uses struct {
	t        *testing.T
	file     string
	own      map[string]bool
	declared map[string]string
	rank     func(string) int
}

func (u uses) visit(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.SelectorExpr:
		ast.Inspect(n.X, u.visit)
		return false // n.Sel is a field or method, not a top-level name
	case *ast.KeyValueExpr:
		if _, ok := n.Key.(*ast.Ident); ok {
			ast.Inspect(n.Value, u.visit)
			return false // a field's name in a composite literal
		}
	case *ast.FuncDecl:
		if n.Recv != nil {
			recv := n.Recv.List[0].Type
			if s, ok := recv.(*ast.StarExpr); ok {
				recv = s.X
			}
			if typ := recv.(*ast.Ident).Name; u.declared[typ] != u.file {
				u.t.Errorf("%s: method %s.%s is away from its type, in %s", u.file, typ, n.Name.Name, u.declared[typ])
			}
			ast.Inspect(n.Recv, u.visit)
		}
		// Not n.Name: a method may have the name of a function.
		ast.Inspect(n.Type, u.visit)
		if n.Body != nil {
			ast.Inspect(n.Body, u.visit)
		}
		return false
	case *ast.Ident:
		if u.own[n.Name] {
			return true
		}
		if in, ok := u.declared[n.Name]; ok && in != u.file && u.rank(in) < u.rank(u.file) {
			u.t.Errorf("%s uses %s of %s, which is above it in docs/development.md's list", u.file, n.Name, in)
		}
	}
	return true
}
