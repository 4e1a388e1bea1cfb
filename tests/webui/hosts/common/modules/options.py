"""modules/options.py: OptionInfo and Options, with the host's traps.

`opts.<key>` raises AttributeError for a key neither saved nor registered; `opts.set` raises
KeyError for an unregistered key; `data` holds only what config.json holds.
"""


class OptionInfo:
    def __init__(
        self,
        default=None,
        label="",
        component=None,
        component_args=None,
        onchange=None,
        section=None,
        refresh=None,
        comment_before="",
        comment_after="",
        infotext=None,
        restrict_api=False,
        category_id=None,
    ):
        self.default = default
        self.label = label
        self.component = component
        self.component_args = component_args
        self.onchange = onchange
        self.section = section
        self.category_id = category_id
        self.refresh = refresh
        self.do_not_save = False
        self.infotext = infotext
        self.restrict_api = restrict_api

    def link(self, label, url):
        return self

    def js(self, label, js_func):
        return self

    def info(self, info):
        return self

    def html(self, html):
        return self

    def needs_restart(self):
        return self

    def needs_reload_ui(self):
        return self


def options_section(section_identifier, options_dict):
    for v in options_dict.values():
        if len(section_identifier) == 2:
            v.section = section_identifier
        elif len(section_identifier) == 3:
            v.section = section_identifier[0:2]
            v.category_id = section_identifier[2]
    return options_dict


class Options:
    typemap = {int: float}  # noqa: RUF012 - host code

    def __init__(self, data_labels, restricted_opts=None):
        self.data_labels = data_labels
        self.data = {}
        self.restricted_opts = restricted_opts or set()
        self.set_calls = []

    def __setattr__(self, key, value):
        if key in ("data_labels", "data", "restricted_opts", "set_calls", "typemap"):
            return super().__setattr__(key, value)
        if self.data is not None and (key in self.data or key in self.data_labels):
            self.data[key] = value
            return
        return super().__setattr__(key, value)

    def __getattr__(self, item):
        if item in ("data", "data_labels"):
            raise AttributeError(item)
        if self.data is not None and item in self.data:
            return self.data[item]
        if item in self.data_labels:
            return self.data_labels[item].default
        raise AttributeError(item)

    def set(self, key, value, is_api=False, run_callbacks=True):
        """Returns True if the option changed (the host's semantics)."""
        oldval = self.data.get(key, None)
        if oldval == value:
            return False
        option = self.data_labels[key]  # KeyError for unknown keys, like the host
        self.set_calls.append((key, value, run_callbacks))
        setattr(self, key, value)
        if run_callbacks and option.onchange is not None:
            option.onchange()
        return True

    def get_default(self, key):
        info = self.data_labels.get(key)
        return None if info is None else info.default

    def add_option(self, key, info):
        self.data_labels[key] = info
        if key not in self.data and not info.do_not_save:
            self.data[key] = info.default

    def save(self, filename):
        SAVED_CONFIGS.append(dict(self.data))


SAVED_CONFIGS: list[dict] = []
