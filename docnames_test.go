package httpauth_test

import (
	"go/ast"
	"go/build"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestDocNames fails when documentation names a Go identifier that does not
// exist, so that prose cannot outlive a rename or an unexport again.
//
// It collects every identifier declared in every package of every module of
// the repository (test files excluded): package names, top-level types,
// funcs, vars and consts, methods as Type.Method, struct fields and
// interface methods as Type.Field (with members promoted through
// embedding). Then it reads
//
//   - every doc comment in every non-test .go file (package, declaration,
//     field and interface-method comments): Go doc links ([Name],
//     [pkg.Name], [Type.Method], [*Name]) and backticked spans; and
//   - README.md, every other README.md, docs/*.md, COMPATIBILITY.md and
//     BENCHMARKS.md: backticked spans outside code fences, and, inside
//     ```go fences, the selectors of the repository's packages
//     (httpauth.Name, sqlstore.Name, …) and of auth (an *Authenticator).
//
// A backticked span is checked when it looks like a Go identifier path,
// optionally with a leading * or &, a call's arguments, a composite
// literal's braces or type arguments (`*HMACSigner`, `auth.User(r)`,
// `Config[U]{…}`), and starts with an uppercase letter, a package name or
// auth. A trailing *, … or ... makes it a prefix (`Reason…`), which must
// match at least one name. Each must resolve: a bare name in its own
// package (a doc link strictly so, as go doc resolves it; a backticked name
// or a Markdown name in any package of the repository), a qualified name in
// that package; a standard-library package's names are read from GOROOT,
// other modules' packages are taken on trust. In public documentation (the
// Markdown files above except BENCHMARKS.md, and doc comments of exported
// identifiers of importable, non-internal packages) a name that exists but
// is unexported is an error too: it is not API.
//
// Ignored: ALL-CAPS words (HTTP, GET, TTL), anything with a character that
// is not part of a Go identifier path (header names such as WWW-Authenticate,
// SQL, shell commands, JSON), file names (`token.go`), lowercase words that
// are not a package-level name, selectors on other variables (`r.Header`),
// code blocks in doc comments, and CHANGELOG.md: it is a record of what
// changed, whose "old" columns name what is gone by design and whose older
// entries may be superseded by newer ones.
func TestDocNames(t *testing.T) {
	root := docRepoRoot(t)
	ix := newDocIndex(t, root)
	var problems []string
	report := func(file string, line int, name, why string) {
		problems = append(problems, file+":"+strconv.Itoa(line)+": "+name+": "+why)
	}
	refs := 0
	for _, p := range ix.pkgs {
		for _, f := range p.files {
			for _, dc := range docComments(f.ast, p.public) {
				refs += ix.checkComment(f, p, dc, report)
			}
		}
	}
	for _, md := range docMarkdownFiles(t, root) {
		refs += ix.checkMarkdown(t, md, report)
	}
	slices.Sort(problems)
	problems = slices.Compact(problems)
	if len(problems) > 0 {
		t.Errorf("%d of %d references in doc comments and Markdown name no identifier of the repository (or name one that is not API):\n%s",
			len(problems), refs, strings.Join(problems, "\n"))
	}
}

// docRepoRoot walks up from the working directory to the one holding go.work.
func docRepoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.work above the working directory: not inside the repository")
		}
		dir = parent
	}
}

// docPkg is one package directory of the repository (or of GOROOT).
type docPkg struct {
	name   string
	dir    string // slash-separated, relative to its root
	public bool   // importable, not internal: its exported names are API
	syms   map[string]bool
	types  map[string]bool
	// memberNames holds every field and method name, of any type: prose
	// names a method by its name alone (`UserByID`).
	memberNames map[string]bool
	// fieldType maps Type.Field to the field's type when that is a type of
	// the same package, so that Config.Throttle.Logins can be followed.
	fieldType map[string]string
	// embeds maps a type to what it embeds: "Name" for the same package,
	// "pkg.Name" for another.
	embeds map[string][]string
	files  []*docFile
}

type docFile struct {
	path    string // slash-separated, relative to the repository root
	ast     *ast.File
	imports map[string]string // local name → import path
}

type docIndex struct {
	root    string
	module  string // the root module's path
	fset    *token.FileSet
	pkgs    []*docPkg
	byName  map[string][]*docPkg // package name → packages (not main)
	byPath  map[string]*docPkg   // import path → package
	imports map[string][]string  // local name → import paths, over every file
	std     map[string]*docPkg   // parsed standard-library packages
	// testFuncs holds the names of the repository's tests, benchmarks,
	// fuzz targets and examples, and of subtests (t.Run("Name", …)).
	testFuncs map[string]bool
}

func newDocIndex(t *testing.T, root string) *docIndex {
	t.Helper()
	ix := &docIndex{
		root:    root,
		fset:    token.NewFileSet(),
		byName:  map[string][]*docPkg{},
		byPath:  map[string]*docPkg{},
		imports: map[string][]string{},
		std:     map[string]*docPkg{},

		testFuncs: map[string]bool{},
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(gomod); m != nil {
		ix.module = string(m[1])
	}
	dirs := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") {
			dir, _ := filepath.Rel(root, filepath.Dir(path))
			dirs[filepath.ToSlash(dir)] = append(dirs[filepath.ToSlash(dir)], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		var p *docPkg
		for _, path := range dirs[dir] {
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			if strings.HasSuffix(path, "_test.go") {
				// Test files only teach the names packages are imported as,
				// and the names of tests, benchmarks and examples, which
				// prose may tell one to run.
				f, err := parser.ParseFile(ix.fset, path, nil, parser.SkipObjectResolution)
				if err != nil {
					t.Fatal(err)
				}
				ix.addImports(fileImports(f))
				ix.collectSubtests(f)
				for _, d := range f.Decls {
					if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && docTestFuncRE.MatchString(fd.Name.Name) {
						ix.testFuncs[fd.Name.Name] = true
					}
				}
				continue
			}
			f, err := parser.ParseFile(ix.fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			if p == nil {
				p = newDocPkg(f.Name.Name, dir)
				p.public = p.name != "main" && !slices.Contains(strings.Split(dir, "/"), "internal")
				ix.pkgs = append(ix.pkgs, p)
			}
			ix.collectSubtests(f)
			df := &docFile{path: rel, ast: f, imports: fileImports(f)}
			ix.addImports(df.imports)
			p.files = append(p.files, df)
			p.collect(f)
		}
		if p == nil {
			continue
		}
		if p.name != "main" {
			ix.byName[p.name] = append(ix.byName[p.name], p)
		}
		path := ix.module
		if dir != "." {
			path += "/" + dir
		}
		ix.byPath[path] = p
	}
	return ix
}

// collectSubtests records the literal names of the subtests f runs:
// t.Run("Name", …), and {"Name", func…} in a list of subtests.
func (ix *docIndex) collectSubtests(f *ast.File) {
	add := func(e ast.Expr) {
		if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if name, err := strconv.Unquote(lit.Value); err == nil && docIdentRE.MatchString(name) {
				ix.testFuncs[name] = true
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Run" && len(n.Args) == 2 {
				add(n.Args[0])
			}
		case *ast.CompositeLit:
			if len(n.Elts) == 2 {
				if _, ok := n.Elts[1].(*ast.FuncLit); ok {
					add(n.Elts[0])
				}
			}
		}
		return true
	})
}

func (ix *docIndex) addImports(m map[string]string) {
	for name, path := range m {
		if !slices.Contains(ix.imports[name], path) {
			ix.imports[name] = append(ix.imports[name], path)
		}
	}
}

func fileImports(f *ast.File) map[string]string {
	m := map[string]string{}
	for _, is := range f.Imports {
		path := strings.Trim(is.Path.Value, `"`)
		name := path[strings.LastIndex(path, "/")+1:]
		if v := regexp.MustCompile(`^v[0-9]+$`); v.MatchString(name) && strings.Contains(path, "/") {
			// math/rand/v2, github.com/redis/go-redis/v9: the element before.
			rest := path[:strings.LastIndex(path, "/")]
			name = rest[strings.LastIndex(rest, "/")+1:]
		}
		name = strings.TrimPrefix(name, "go-")
		if is.Name != nil {
			name = is.Name.Name
		}
		if name == "_" || name == "." {
			continue
		}
		m[name] = path
	}
	return m
}

func newDocPkg(name, dir string) *docPkg {
	return &docPkg{
		name:        name,
		dir:         dir,
		syms:        map[string]bool{},
		types:       map[string]bool{},
		memberNames: map[string]bool{},
		fieldType:   map[string]string{},
		embeds:      map[string][]string{},
	}
}

// collect records the names f declares.
func (p *docPkg) collect(f *ast.File) {
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				p.syms[d.Name.Name] = true
			} else if len(d.Recv.List) > 0 {
				p.syms[typeName(d.Recv.List[0].Type)+"."+d.Name.Name] = true
				p.memberNames[d.Name.Name] = true
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					p.syms[s.Name.Name] = true
					p.types[s.Name.Name] = true
					p.members(s.Name.Name, s.Type)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						p.syms[n.Name] = true
					}
				}
			}
		}
	}
}

func (p *docPkg) members(typ string, expr ast.Expr) {
	switch t := expr.(type) {
	case *ast.StructType:
		for _, f := range t.Fields.List {
			if len(f.Names) == 0 {
				n := typeName(f.Type)
				p.syms[typ+"."+n[strings.LastIndex(n, ".")+1:]] = true
				p.memberNames[n[strings.LastIndex(n, ".")+1:]] = true
				p.embeds[typ] = append(p.embeds[typ], n)
				continue
			}
			for _, n := range f.Names {
				p.syms[typ+"."+n.Name] = true
				p.memberNames[n.Name] = true
				if ft := typeName(f.Type); ft != "" && !strings.Contains(ft, ".") {
					p.fieldType[typ+"."+n.Name] = ft
				}
			}
		}
	case *ast.InterfaceType:
		for _, f := range t.Methods.List {
			if len(f.Names) == 0 {
				if n := typeName(f.Type); n != "" {
					p.embeds[typ] = append(p.embeds[typ], n)
				}
				continue
			}
			for _, n := range f.Names {
				p.syms[typ+"."+n.Name] = true
				p.memberNames[n.Name] = true
			}
		}
	default:
		// type A = B has B's members; type A B has B's fields (and, taken
		// leniently, its methods).
		if n := typeName(expr); n != "" {
			p.embeds[typ] = append(p.embeds[typ], n)
		}
	}
}

// typeName names the type expr denotes, without pointers and type
// arguments: "Name" or "pkg.Name"; "" when it is not a named type.
func typeName(expr ast.Expr) string {
	switch t := expr.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return typeName(t.X)
	case *ast.IndexExpr:
		return typeName(t.X)
	case *ast.IndexListExpr:
		return typeName(t.X)
	case *ast.SelectorExpr:
		if x, ok := t.X.(*ast.Ident); ok {
			return x.Name + "." + t.Sel.Name
		}
	case *ast.ParenExpr:
		return typeName(t.X)
	}
	return ""
}

// docComment is a doc comment and whether what it documents is API.
type docComment struct {
	cg     *ast.CommentGroup
	public bool
}

// docComments returns f's doc comments: the package's, every declaration's,
// and every struct field's and interface method's.
func docComments(f *ast.File, pub bool) []docComment {
	var out []docComment
	add := func(cg *ast.CommentGroup, public bool) {
		if cg != nil {
			out = append(out, docComment{cg, public})
		}
	}
	var fields func(expr ast.Expr, public bool)
	fields = func(expr ast.Expr, public bool) {
		var list *ast.FieldList
		switch t := expr.(type) {
		case *ast.StructType:
			list = t.Fields
		case *ast.InterfaceType:
			list = t.Methods
		default:
			return
		}
		for _, fl := range list.List {
			exp := false
			if n := typeName(fl.Type); len(fl.Names) == 0 {
				exp = ast.IsExported(n[strings.LastIndex(n, ".")+1:])
			}
			for _, n := range fl.Names {
				exp = exp || n.IsExported()
			}
			add(fl.Doc, public && exp)
			add(fl.Comment, public && exp)
			fields(fl.Type, public && exp)
		}
	}
	add(f.Doc, pub)
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			exp := d.Name.IsExported()
			if d.Recv != nil && len(d.Recv.List) > 0 {
				exp = exp && ast.IsExported(typeName(d.Recv.List[0].Type))
			}
			add(d.Doc, pub && exp)
		case *ast.GenDecl:
			anyExp := false
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					exp := s.Name.IsExported()
					anyExp = anyExp || exp
					add(s.Doc, pub && exp)
					add(s.Comment, pub && exp)
					fields(s.Type, pub && exp)
				case *ast.ValueSpec:
					exp := slices.ContainsFunc(s.Names, (*ast.Ident).IsExported)
					anyExp = anyExp || exp
					add(s.Doc, pub && exp)
					add(s.Comment, pub && exp)
				}
			}
			add(d.Doc, pub && anyExp)
		}
	}
	return out
}

// docRef is one reference to check.
type docRef struct {
	file   string
	line   int
	text   string   // as written, for the report
	segs   []string // the identifier path
	prefix bool     // the last segment is a prefix (`Reason…`)
	link   bool     // a Go doc link: resolved as go doc does
	bare   bool     // a name written without backticks or brackets
	public bool     // in public documentation
	pkg    *docPkg  // the package whose doc comment it is in; nil in Markdown
	home   *docPkg  // Markdown: the package whose README it is, if any
	// imports maps the local names of the comment's file to import paths.
	imports map[string]string
}

var (
	docSpanRE  = regexp.MustCompile("`([^`\n]+)`")
	docIdentRE = regexp.MustCompile(`^[\pL_][\pL\pN_]*(\.[\pL_][\pL\pN_]*)*$`)
	docFileRE  = regexp.MustCompile(`\.(go|md|mod|sum|work|sql|json|ya?ml|txt|sh|py|html|toml|db|sqlite|pem|key)$`)
	docAllCaps = regexp.MustCompile(`^[\p{Lu}\pN_]+$`)
	docFenceRE = regexp.MustCompile("^\\s*(```|~~~)\\s*(\\S*)")
	docGoSelRE = regexp.MustCompile(`(?:^|[^\pL\pN_.])([\pL_][\pL\pN_]*)\.([\pL_][\pL\pN_]*)`)
	// docCamelRE matches a word that cannot be English: an uppercase
	// initial and a lowercase letter or digit followed by an uppercase one.
	docCamelRE    = regexp.MustCompile(`^\p{Lu}[\pL\pN_]*[\p{Ll}\pN]\p{Lu}`)
	docTestFuncRE = regexp.MustCompile(`^(Test|Benchmark|Fuzz|Example)([A-Z_]|$)`)
	docCallArgs   = regexp.MustCompile(`^([^({\[]+)[({\[].*[)}\]]$`)
)

// parseSpan returns the identifier path a backticked span names, or ok ==
// false when it does not look like one.
func parseSpan(s string) (segs []string, prefix, ok bool) {
	s = strings.TrimSpace(s)
	for _, p := range []string{"*", "&", "[]"} {
		s = strings.TrimPrefix(s, p)
	}
	if m := docCallArgs.FindStringSubmatch(s); m != nil {
		s = m[1]
	}
	for _, suf := range []string{"…", "...", "*"} {
		if strings.HasSuffix(s, suf) {
			s, prefix = strings.TrimSuffix(s, suf), true
		}
	}
	if docFileRE.MatchString(s) || !docIdentRE.MatchString(s) || docAllCaps.MatchString(s) {
		return nil, false, false
	}
	return strings.Split(s, "."), prefix, true
}

// checkComment checks the references in one doc comment and returns how
// many it checked.
func (ix *docIndex) checkComment(f *docFile, p *docPkg, dc docComment, report func(string, int, string, string)) int {
	type rawLine struct {
		n    int
		text string
	}
	var lines []rawLine
	for _, c := range dc.cg.List {
		start := ix.fset.Position(c.Slash).Line
		for i, l := range strings.Split(c.Text, "\n") {
			lines = append(lines, rawLine{start + i, l})
		}
	}
	seen := map[string]int{}
	lineOf := func(needles ...string) int {
		k := needles[0]
		seen[k]++
		count := 0
		for _, l := range lines {
			for _, nd := range needles {
				count += strings.Count(l.text, nd)
			}
			if count >= seen[k] {
				return l.n
			}
		}
		return lines[0].n
	}
	cp := &comment.Parser{
		LookupPackage: func(name string) (string, bool) {
			return name, docIdentRE.MatchString(name) && !strings.Contains(name, ".")
		},
		LookupSym: func(recv, name string) bool { return true },
	}
	doc := cp.Parse(dc.cg.Text())
	n := 0
	check := func(r docRef) {
		n++
		r.file, r.public, r.pkg, r.imports = f.path, dc.public, p, f.imports
		if why := ix.resolve(r); why != "" {
			report(r.file, r.line, r.text, why)
		}
	}
	var texts func(ts []comment.Text)
	texts = func(ts []comment.Text) {
		for _, t := range ts {
			switch t := t.(type) {
			case comment.Plain:
				for _, m := range docSpanRE.FindAllStringSubmatch(string(t), -1) {
					segs, prefix, ok := parseSpan(m[1])
					if !ok || !ix.wanted(segs, f.imports) {
						continue
					}
					check(docRef{line: lineOf(m[0]), text: m[0], segs: segs, prefix: prefix})
				}
				// Names written bare, as Go doc comments usually do: those
				// that cannot be English words.
				plain := docSpanRE.ReplaceAllString(string(t), " ")
				for _, w := range strings.Fields(plain) {
					w = strings.TrimRight(strings.TrimLeft(w, "(“\"'"), "),;:!?”\"'.")
					if !docIdentRE.MatchString(w) {
						continue
					}
					segs := strings.Split(w, ".")
					if len(segs) == 1 && !docCamelRE.MatchString(w) || docProperNouns[strings.TrimSuffix(w, "s")] ||
						docFileRE.MatchString(w) || docAllCaps.MatchString(segs[0]) {
						continue
					}
					if first := segs[0]; !unicode.IsUpper([]rune(first)[0]) && !ix.isPackage(first, f.imports) {
						continue
					}
					check(docRef{line: lineOf(w), text: w, segs: segs, bare: true})
				}
			case comment.Italic:
				texts([]comment.Text{comment.Plain(t)})
			case *comment.Link:
				if !t.Auto {
					texts(t.Text)
				}
			case *comment.DocLink:
				var segs []string
				if t.ImportPath != "" {
					segs = append(segs, t.ImportPath)
				}
				if t.Recv != "" {
					segs = append(segs, t.Recv)
				}
				if t.Name != "" {
					segs = append(segs, t.Name)
				}
				if len(segs) == 0 {
					continue
				}
				s := strings.Join(segs, ".")
				if strings.Contains(t.ImportPath, "/") {
					// [path/to/pkg.Name]: a full import path.
					segs = []string{t.ImportPath}
					if t.Recv != "" {
						segs = append(segs, t.Recv)
					}
					if t.Name != "" {
						segs = append(segs, t.Name)
					}
				}
				check(docRef{line: lineOf("["+s+"]", "[*"+s+"]"), text: "[" + s + "]", segs: segs, link: true})
			}
		}
	}
	for _, b := range doc.Content {
		switch b := b.(type) {
		case *comment.Paragraph:
			texts(b.Text)
		case *comment.Heading:
			texts(b.Text)
		case *comment.List:
			for _, it := range b.Items {
				for _, c := range it.Content {
					if p, ok := c.(*comment.Paragraph); ok {
						texts(p.Text)
					}
				}
			}
		}
	}
	return n
}

// wanted reports whether a backticked identifier path is worth checking:
// it starts with an uppercase letter, a package name or auth, or it is a
// single lowercase word (checked only against unexported names).
func (ix *docIndex) wanted(segs []string, imports map[string]string) bool {
	first := segs[0]
	if unicode.IsUpper([]rune(first)[0]) || len(segs) == 1 {
		return true
	}
	if first == "auth" {
		return unicode.IsUpper([]rune(segs[1])[0])
	}
	return ix.isPackage(first, imports)
}

// resolve returns why r does not resolve, or "".
func (ix *docIndex) resolve(r docRef) string {
	first := r.segs[0]
	// A package qualifier: the file's own imports first, then the
	// repository's packages, then any name some file imports.
	if !unicode.IsUpper([]rune(first)[0]) {
		var cands []*docPkg
		foreign := false
		addPath := func(path string) {
			if q := ix.byPath[path]; q != nil {
				cands = append(cands, q)
			} else if q := ix.stdPkg(path); q != nil {
				cands = append(cands, q)
			} else {
				foreign = true // another module's package: taken on trust
			}
		}
		switch {
		case r.imports[first] != "":
			addPath(r.imports[first])
		case strings.Contains(first, "/"):
			addPath(first)
		case r.pkg != nil && first == r.pkg.name:
			cands = append(cands, r.pkg)
		case len(ix.byName[first]) > 0:
			cands = append(cands, ix.byName[first]...)
		case len(ix.imports[first]) > 0:
			for _, path := range ix.imports[first] {
				addPath(path)
			}
		}
		if len(cands) > 0 || foreign {
			if len(r.segs) == 1 || foreign {
				return ""
			}
			own := r.pkg != nil && slices.Contains(cands, r.pkg)
			why := "no such name in package " + first
			for _, q := range cands {
				switch w := ix.resolveIn(q, r.segs[1:], r.prefix, r.public || r.pkg != nil && q != r.pkg); {
				case w == "":
					return ""
				case q == r.pkg || !own:
					why = w + " in package " + first
				}
			}
			return why
		}
		if first == "auth" && len(r.segs) > 1 {
			// auth is an *Authenticator in every example.
			if q := ix.byPath[ix.module]; q != nil {
				if w := ix.resolveIn(q, append([]string{"Authenticator"}, r.segs[1:]...), r.prefix, true); w != "" {
					return w + " (auth is an *Authenticator)"
				}
			}
			return ""
		}
		if len(r.segs) > 1 || r.link {
			if r.link && len(r.segs) == 1 && isPredeclared(first) {
				return ""
			}
			if r.link {
				return "doc link to no known package"
			}
			return "" // a selector on a variable
		}
		// A single lowercase word: only an unexported name in public
		// documentation is an error.
		if !r.public {
			return ""
		}
		for _, q := range ix.scope(r) {
			if q.public && q.syms[first] {
				return "unexported: not API (in package " + q.name + ")"
			}
		}
		return ""
	}
	// A name without a package: its own package's, or (not for a doc link,
	// which go doc resolves in its own package only) any package's; a
	// backticked name alone may also be a field or method, or a test.
	if !r.link && len(r.segs) == 1 {
		name := r.segs[0]
		if ix.testFuncs[name] {
			return ""
		}
		for _, q := range ix.scope(r) {
			if q.memberNames[name] && !r.prefix {
				return ""
			}
		}
	}
	why := ""
	for i, q := range ix.scope(r) {
		w := ix.resolveIn(q, r.segs, r.prefix, r.public || r.pkg != nil && q != r.pkg)
		if w == "" {
			if r.link && i > 0 {
				return "doc link to a name of package " + q.name + ": write [" + q.name + "." + strings.Join(r.segs, ".") + "]"
			}
			return ""
		}
		if i == 0 {
			why = w
		}
	}
	if why == "" {
		why = "no such name"
	}
	return why
}

// scope is where a name without a package is looked up: for a doc
// comment, its own package and then the repository's packages its file
// imports; for Markdown, the package whose README it is first, then every
// public package, then (for BENCHMARKS.md only) every other.
func (ix *docIndex) scope(r docRef) []*docPkg {
	var out []*docPkg
	if r.pkg != nil {
		out = append(out, r.pkg)
		for _, path := range slices.Sorted(maps.Values(r.imports)) {
			if q := ix.byPath[path]; q != nil && !slices.Contains(out, q) {
				out = append(out, q)
			}
		}
		return out
	}
	if r.home != nil {
		out = append(out, r.home)
	}
	for _, pub := range []bool{true, false} {
		if !pub && r.public {
			break // public docs name no command's or internal package's names
		}
		for _, q := range ix.pkgs {
			if q.public == pub && !slices.Contains(out, q) {
				out = append(out, q)
			}
		}
	}
	return out
}

// resolveIn returns why segs does not name something in p, or "". With
// exportedOnly, an unexported name is an error.
func (ix *docIndex) resolveIn(p *docPkg, segs []string, prefix, exportedOnly bool) string {
	last := len(segs) - 1
	has := func(name string, isLast bool) bool {
		if isLast && prefix {
			for s := range p.syms {
				if !strings.Contains(s, ".") && strings.HasPrefix(s, name) {
					return true
				}
			}
			return false
		}
		return p.syms[name]
	}
	if !has(segs[0], last == 0) {
		return "no such name"
	}
	if exportedOnly && !ast.IsExported(segs[0]) {
		return "unexported: not API"
	}
	typ := segs[0]
	if !p.types[typ] {
		return "" // a func, var or const: what follows is its result's
	}
	for i := 1; i <= last; i++ {
		name := segs[i]
		ok, known := ix.member(p, typ, name, i == last && prefix, 0)
		if !ok {
			return "no field or method " + name + " of " + typ
		}
		if exportedOnly && !ast.IsExported(name) {
			return "unexported: not API"
		}
		if !known {
			return ""
		}
		typ = p.fieldType[typ+"."+name]
		if typ == "" || !p.types[typ] {
			return ""
		}
	}
	return ""
}

// member reports whether typ in p has a field or method name, directly or
// through embedding; known is false when it was taken on trust (embedded
// from another module).
func (ix *docIndex) member(p *docPkg, typ, name string, prefix bool, depth int) (ok, known bool) {
	if prefix {
		for s := range p.syms {
			if strings.HasPrefix(s, typ+"."+name) {
				return true, true
			}
		}
	} else if p.syms[typ+"."+name] {
		return true, true
	}
	if depth > 8 {
		return false, true
	}
	for _, e := range p.embeds[typ] {
		q, et := p, e
		if i := strings.Index(e, "."); i >= 0 {
			q, et = nil, e[i+1:]
			for _, c := range ix.byName[e[:i]] {
				if c.types[et] {
					q = c
				}
			}
			if q == nil {
				return true, false // another module's type
			}
		}
		if ok, known := ix.member(q, et, name, prefix, depth+1); ok {
			return true, known
		}
	}
	return false, true
}

// stdPkg parses the standard-library package path from GOROOT, or returns
// nil when path is not one.
func (ix *docIndex) stdPkg(path string) *docPkg {
	if p, ok := ix.std[path]; ok {
		return p
	}
	ix.std[path] = nil
	if first, _, _ := strings.Cut(path, "/"); strings.Contains(first, ".") || build.Default.GOROOT == "" {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(build.Default.GOROOT, "src", filepath.FromSlash(path), "*.go"))
	var p *docPkg
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(ix.fset, file, nil, parser.SkipObjectResolution)
		if err != nil || f.Name.Name == "main" || f.Name.Name == "documentation" {
			continue
		}
		if p == nil {
			p = newDocPkg(f.Name.Name, path)
			p.public = true
		}
		p.collect(f)
	}
	ix.std[path] = p
	return p
}

// docProperNouns are CamelCase words of English prose in doc comments.
var docProperNouns = map[string]bool{
	"OpenAPI": true, "PostgreSQL": true, "GitHub": true, "JavaScript": true, "TypeScript": true,
	"KiB": true, "MiB": true, "GiB": true, "PgBouncer": true, "ValKey": true, "MySQL": true, "MariaDB": true,
	"WebAuthn": true, "OAuth": true, "UsernameCaseMapped": true, "DoS": true, "IPv4": true, "IPv6": true, "GitLab": true,
}

// isPackage reports whether name is a package a comment in a file with
// imports may name.
func (ix *docIndex) isPackage(name string, imports map[string]string) bool {
	_, ok := imports[name]
	return ok || len(ix.byName[name]) > 0 || len(ix.imports[name]) > 0
}

func isPredeclared(s string) bool {
	return slices.Contains(strings.Fields(`any bool byte comparable complex64 complex128 error float32 float64
		int int8 int16 int32 int64 rune string uint uint8 uint16 uint32 uint64 uintptr
		true false iota nil append cap clear close complex copy delete imag len make max min new panic print println real recover`), s)
}

// docMarkdownFiles lists the Markdown files to check, relative to root.
func docMarkdownFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, name := range []string{"README.md", "COMPATIBILITY.md", "BENCHMARKS.md"} {
		if _, err := os.Stat(filepath.Join(root, name)); err == nil {
			out = append(out, name)
		}
	}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	for _, d := range docs {
		rel, _ := filepath.Rel(root, d)
		out = append(out, filepath.ToSlash(rel))
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "README.md" && filepath.Dir(path) != root {
			rel, _ := filepath.Rel(root, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// checkMarkdown checks the references in one Markdown file and returns how
// many it checked.
func (ix *docIndex) checkMarkdown(t *testing.T, rel string, report func(string, int, string, string)) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ix.root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	var home *docPkg
	dir := filepath.ToSlash(filepath.Dir(rel))
	if dir == "." || dir == "docs" {
		home = ix.byPath[ix.module]
	} else if q := ix.byPath[ix.module+"/"+dir]; q != nil && q.name != "main" {
		home = q
	}
	public := rel != "BENCHMARKS.md"
	// Words that are HTTP, not Go: header names without a '-' and
	// authentication schemes.
	httpWords := strings.Fields("Authorization Origin Cookie Host Vary Location Basic Bearer")
	n := 0
	check := func(r docRef) {
		n++
		r.file, r.public, r.home = rel, public, home
		if why := ix.resolve(r); why != "" {
			report(r.file, r.line, r.text, why)
		}
	}
	fence, fenceLang := "", ""
	for i, line := range strings.Split(string(data), "\n") {
		if m := docFenceRE.FindStringSubmatch(line); m != nil {
			switch {
			case fence == "":
				fence, fenceLang = m[1], m[2]
			case m[1] == fence && m[2] == "":
				fence = ""
			}
			continue
		}
		if fence != "" {
			if fenceLang != "go" {
				continue
			}
			// Go code: the selectors of the repository's packages and of auth.
			code, _, _ := strings.Cut(line, "//")
			for _, m := range docGoSelRE.FindAllStringSubmatch(code, -1) {
				if m[1] != "auth" && len(ix.byName[m[1]]) == 0 {
					continue
				}
				if m[1] == "auth" && !unicode.IsUpper([]rune(m[2])[0]) {
					continue
				}
				check(docRef{line: i + 1, text: m[1] + "." + m[2], segs: []string{m[1], m[2]}})
			}
			continue
		}
		for _, m := range docSpanRE.FindAllStringSubmatch(line, -1) {
			segs, prefix, ok := parseSpan(m[1])
			if !ok || !ix.wanted(segs, nil) || len(segs) == 1 && slices.Contains(httpWords, m[1]) {
				continue
			}
			check(docRef{line: i + 1, text: m[0], segs: segs, prefix: prefix})
		}
	}
	return n
}
