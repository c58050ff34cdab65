package main

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// kustomization holds the kustomization.yaml fields these manifests use, as
// kustomize documents them (kustomize's own module is not imported: its
// dependency tree is larger than the checker). Strict decoding refuses others.
type kustomization struct {
	APIVersion         string            `json:"apiVersion"`
	Kind               string            `json:"kind"`
	Namespace          string            `json:"namespace,omitempty"`
	NamePrefix         string            `json:"namePrefix,omitempty"`
	Resources          []string          `json:"resources,omitempty"`
	Labels             []labelEntry      `json:"labels,omitempty"`
	Images             []image           `json:"images,omitempty"`
	Patches            []patch           `json:"patches,omitempty"`
	Replicas           []replicas        `json:"replicas,omitempty"`
	ConfigMapGenerator []generator       `json:"configMapGenerator,omitempty"`
	CommonAnnotations  map[string]string `json:"commonAnnotations,omitempty"`
}

type labelEntry struct {
	Pairs            map[string]string `json:"pairs"`
	IncludeSelectors bool              `json:"includeSelectors,omitempty"`
	IncludeTemplates bool              `json:"includeTemplates,omitempty"`
}

type image struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

type patch struct {
	Path   string `json:"path,omitempty"`
	Patch  string `json:"patch,omitempty"`
	Target *struct {
		Group   string `json:"group,omitempty"`
		Version string `json:"version,omitempty"`
		Kind    string `json:"kind,omitempty"`
		Name    string `json:"name,omitempty"`
	} `json:"target,omitempty"`
}

type replicas struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

type generator struct {
	Name     string   `json:"name"`
	Behavior string   `json:"behavior,omitempty"`
	Literals []string `json:"literals,omitempty"`
	Files    []string `json:"files,omitempty"`
}

func checkKustomization(file string, doc []byte) error {
	var k kustomization
	if err := yaml.UnmarshalStrict(doc, &k); err != nil {
		return err
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		return fmt.Errorf("apiVersion/kind must be kustomize.config.k8s.io/v1beta1/Kustomization, not %s/%s", k.APIVersion, k.Kind)
	}
	dir := filepath.Dir(file)
	paths := append([]string{}, k.Resources...)
	for _, p := range k.Patches {
		if p.Path != "" {
			paths = append(paths, p.Path)
		}
	}
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return fmt.Errorf("lists %s, which does not exist", p)
		}
	}
	return nil
}
