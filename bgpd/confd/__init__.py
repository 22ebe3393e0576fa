"""The confd-like watcher: Calico's datastore (etcd or a file) rendered into bgpd's TOML config.

Role: an edge package. Sources (`bgpd.confd.sources`) yield immutable key/value snapshots; the
pure model (`bgpd.confd.model`) derives Calico's `/calico/bgp/v1/...` key view from them;
templates (`confd_templates/`, run by `bgpd.confd.template_env`) render bgpd TOML;
`bgpd.confd.render_pass` checks it with our own loader and installs it atomically;
`bgpd.confd.watcher` runs the loop (debounce, reload, status); `bgpd.confd.command` is `bgpd confd`.

Invariants: nothing is rendered before the source's first complete read; a rendered file is
installed only when it passes `bgpd.config.parse_config` and differs from the installed one;
a failed render or check never replaces the last good file.
"""
