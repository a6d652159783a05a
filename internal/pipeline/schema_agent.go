package pipeline

import (
	yaml "go.yaml.in/yaml/v3"
)

// agent reads an agent: a machine, optional containers and
// image_pull_secrets.
func (d *decoder) agent(n *yaml.Node) *Agent {
	o := d.object(n, "agent", "agent", "machine", "containers", "image_pull_secrets")
	if o == nil {
		return nil
	}
	o.require("machine")
	a := &Agent{Pos: d.pos(o.node)}
	if m := d.object(o.get("machine"), "machine", "machine", "type", "os_image"); m != nil {
		m.require("type")
		a.Machine.Pos = d.pos(m.node)
		a.Machine.Type, _ = d.nonEmptyStr(m.get("type"), "machine type")
		if v := m.get("os_image"); v != nil && isNull(v) {
			d.errorf(v, "os_image is empty; write os_image: '' for the default image, or remove the key")
		} else {
			a.Machine.OSImage, _ = d.str(v, "os_image")
		}
	}
	items, _ := d.list(o.get("containers"), "containers")
	for i, it := range items {
		if c := d.container(it, i); c != nil {
			a.Containers = append(a.Containers, c)
		}
	}
	items, _ = d.list(o.get("image_pull_secrets"), "image_pull_secrets")
	for _, it := range items {
		s := d.object(it, "image pull secret", "image_pull_secret", "name")
		if s == nil {
			continue
		}
		s.require("name")
		if name, ok := d.nonEmptyStr(s.get("name"), "secret name"); ok {
			a.ImagePullSecrets = append(a.ImagePullSecrets, &SecretRef{Pos: d.pos(s.node), Name: name})
		}
	}
	return a
}

// container reads one of agent.containers.
func (d *decoder) container(n *yaml.Node, index int) *Container {
	what := label("container", index, d.peekName(n))
	o := d.object(n, what, "container",
		"name", "image", "command", "entrypoint", "user", "env_vars", "secrets")
	if o == nil {
		return nil
	}
	o.require("name", "image")
	c := &Container{Pos: d.pos(o.node)}
	c.Name, _ = d.nonEmptyStr(o.get("name"), "container name")
	c.Image, _ = d.nonEmptyStr(o.get("image"), "image")
	for _, f := range []struct {
		key string
		dst *string
	}{{"command", &c.Command}, {"entrypoint", &c.Entrypoint}, {"user", &c.User}} {
		v := o.get(f.key)
		if v != nil && v.Kind == yaml.SequenceNode {
			d.errorf(v, "%s must be a single string, not a list; write the parts on one line, quoted as the shell would need them", f.key)
			continue
		}
		*f.dst, _ = d.str(v, f.key)
	}
	c.EnvVars = d.envVars(o.get("env_vars"))
	c.Secrets = d.secrets(o.get("secrets"))
	return c
}
