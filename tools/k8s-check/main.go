// k8s-check validates Kubernetes manifests offline against the upstream API
// types: every document of every YAML file given (files or directories) is
// decoded strictly into the Go type its apiVersion and kind name (k8s.io/api,
// KEDA's API module), so an unknown field, a duplicate field or a value of the
// wrong type is an error, as is a kind it does not know. kustomization.yaml
// files are decoded into the fields kustomize documents (see kustomization.go)
// and each resource they list must exist.
//
//	go run . <file-or-dir>...
//
// Prints one line per document; exits 1 when any failed.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// typeMeta is what selects the Go type of a document.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: k8s-check <file-or-dir>...")
		os.Exit(2)
	}
	var files []string
	for _, arg := range os.Args[1:] {
		found, err := yamlFiles(arg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", arg, err)
			os.Exit(2)
		}
		files = append(files, found...)
	}
	failed := 0
	checked := 0
	for _, file := range files {
		errs, n := checkFile(file)
		checked += n
		for _, err := range errs {
			fmt.Printf("FAIL %s\n", err)
			failed++
		}
	}
	fmt.Printf("%d documents checked in %d files, %d failed\n", checked, len(files), failed)
	if failed > 0 || checked == 0 {
		os.Exit(1)
	}
}

func yamlFiles(root string) ([]string, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{root}, nil
	}
	var files []string
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// splitDocuments cuts a multi-document YAML stream at its `---` lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var current bytes.Buffer
	flush := func() {
		if len(bytes.TrimSpace(stripComments(current.Bytes()))) > 0 {
			docs = append(docs, append([]byte(nil), current.Bytes()...))
		}
		current.Reset()
	}
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if t := bytes.TrimRight(line, " \t\r\n"); bytes.Equal(t, []byte("---")) {
			flush()
			continue
		}
		current.Write(line)
	}
	flush()
	return docs
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

func checkFile(file string) ([]error, int) {
	f, err := os.Open(file)
	if err != nil {
		return []error{err}, 0
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return []error{err}, 0
	}
	var errs []error
	docs := splitDocuments(data)
	for i, doc := range docs {
		var meta typeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			errs = append(errs, fmt.Errorf("%s#%d: not YAML: %v", file, i+1, err))
			continue
		}
		where := fmt.Sprintf("%s#%d %s/%s", file, i+1, meta.Kind, meta.Metadata.Name)
		if filepath.Base(file) == "kustomization.yaml" {
			if err := checkKustomization(file, doc); err != nil {
				errs = append(errs, fmt.Errorf("%s: %v", where, err))
			} else {
				fmt.Printf("ok   %s\n", where)
			}
			continue
		}
		newObject, known := registry[meta.APIVersion+"/"+meta.Kind]
		if !known {
			errs = append(errs, fmt.Errorf("%s: unknown apiVersion/kind %q (k8s-check knows: %s)", where, meta.APIVersion+"/"+meta.Kind, strings.Join(knownKinds(), ", ")))
			continue
		}
		// Strict: unknown fields, duplicate fields and wrong types are errors.
		if err := yaml.UnmarshalStrict(doc, newObject()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", where, err))
			continue
		}
		if meta.Metadata.Name == "" {
			errs = append(errs, fmt.Errorf("%s: metadata.name is empty", where))
			continue
		}
		fmt.Printf("ok   %s\n", where)
	}
	return errs, len(docs)
}
