#!/usr/bin/env python3
"""check-man.py BUILD_DIR SOURCE_ROOT - the man pages against the code they document.

Checks, and prints what it checked:
  (a) relaypoold.conf(5): every key the configuration parser knows - the [pool] option table
      in daemon/config_opts.c, and the keys daemon/config.c compares in [daemon], [pool],
      [relay NAME] and [group NAME] - is documented in its section of the page, and the
      default and range the page gives are the parser's. Keys the page documents that the
      parser does not know are errors too.
  (b) relaypoolctl(1): every command of the command table in ctl/main.c (and the commands
      main() handles itself, such as help) has its subsection, and every option that
      "relaypoolctl COMMAND --help" shows (run from BUILD_DIR) is documented there; the global
      options of "relaypoolctl --help" are in OPTIONS.
  (c) relaypoold(8): every option of "relaypoold --help" is in OPTIONS.
  (d) every page renders with "man --warnings=w -l" (and groff -ww) without a warning, no
      line is wider than MANWIDTH=80, no @NAME@ marker is left, the usual sections are there
      and SEE ALSO names the other two pages.

The C sources are read with regular expressions (comments and strings taken into account);
when they yield suspiciously few keys, commands or options, that is a failure, not a pass.
Exit status 0 on PASS, 1 on FAIL, 2 on a usage error.
"""
import os
import re
import shutil
import subprocess
import sys

MANWIDTH = 80

# Where the page documents each section's keys (.SH titles in relaypoold.conf.5).
CONF_SECTIONS = {
    'daemon': 'DAEMON SECTION',
    'pool': 'POOL SECTION',
    'relay': 'RELAY SECTIONS',
    'group': 'GROUP SECTIONS',
}
# At least this many, or the extraction is broken.
MIN_KEYS = {'daemon': 8, 'pool_table': 10, 'pool_extra': 1, 'relay': 2, 'group': 2}
MIN_COMMANDS = 10
MIN_DAEMON_OPTIONS = 4

PAGES = {
    'relaypoold.8': ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'SIGNALS', 'EXIT STATUS',
                     'ENVIRONMENT', 'FILES', 'EXAMPLES', 'SEE ALSO'],
    'relaypoolctl.1': ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'COMMANDS', 'EXIT STATUS',
                       'ENVIRONMENT', 'FILES', 'EXAMPLES', 'SEE ALSO'],
    'relaypoold.conf.5': ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'FILE FORMAT'] + list(CONF_SECTIONS.values()) +
                         ['RELOADING', 'EXAMPLES', 'FILES', 'SEE ALSO'],
}

problems = []


def fail(msg):
    problems.append(msg)
    print('  FAIL: ' + msg)


def info(msg):
    print('  ' + msg)


def read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


# ---- C source --------------------------------------------------------------------------------

def strip_comments(src):
    """The C text with comments replaced by a space; string and char literals kept."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith('/*', i):
            j = src.find('*/', i + 2)
            i = n if j < 0 else j + 2
            out.append(' ')
        elif src.startswith('//', i):
            j = src.find('\n', i)
            i = n if j < 0 else j
            out.append(' ')
        elif c in '"\'':
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == '\\' else 1
            out.append(src[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def skip_literal(src, i):
    """Index after the string or char literal starting at i."""
    q, j = src[i], i + 1
    while j < len(src) and src[j] != q:
        j += 2 if src[j] == '\\' else 1
    return j + 1


def matching(src, i, open_ch, close_ch):
    """Index of the bracket closing the one at i (literals skipped), or -1."""
    depth, j = 0, i
    while j < len(src):
        c = src[j]
        if c in '"\'':
            j = skip_literal(src, j)
            continue
        if c == open_ch:
            depth += 1
        elif c == close_ch:
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return -1


def function_body(src, name):
    """The body of C function name's definition (not a declaration or a call), or None."""
    for m in re.finditer(r'\b' + re.escape(name) + r'\s*\(', src):
        close = matching(src, m.end() - 1, '(', ')')
        if close < 0:
            continue
        k = close + 1
        while k < len(src) and src[k].isspace():
            k += 1
        if k < len(src) and src[k] == '{':
            end = matching(src, k, '{', '}')
            if end > 0:
                return src[k + 1:end]
    return None


def initializer(src, name):
    """The text between the braces of 'name[] = { ... };', or None."""
    m = re.search(r'\b' + re.escape(name) + r'\s*\[\s*\]\s*=\s*\{', src)
    if not m:
        return None
    end = matching(src, m.end() - 1, '{', '}')
    return src[m.end():end] if end > 0 else None


def c_string_concat(text):
    """Adjacent C string literals joined."""
    return ''.join(bytes(s, 'utf-8').decode('unicode_escape') for s in re.findall(r'"((?:[^"\\]|\\.)*)"', text))


def c_int(expr, enums=None):
    """A constant integer expression of the kinds the tables use (1024 * 1024, 64ULL << 20,
    an enum name), or None."""
    e = expr.strip()
    if enums and e in enums:
        return enums[e]
    e = re.sub(r'\b(\d+)(?:[uU]?[lL]{0,2}|[lL]{1,2}[uU])\b', r'\1', e)
    if not re.fullmatch(r'[\d\s()*+<>-]+', e) or not re.search(r'\d', e):
        return None
    try:
        return int(eval(e, {'__builtins__': {}}, {}))  # digits and operators only (checked above)
    except Exception:
        return None


def key_segments(body):
    """{key: the text from streq(k->name, "key") to the next such comparison}."""
    hits = list(re.finditer(r'streq\s*\(\s*k->name\s*,\s*"([^"]+)"\s*\)', body))
    return {m.group(1): body[m.end():hits[i + 1].start() if i + 1 < len(hits) else len(body)]
            for i, m in enumerate(hits)}


def parse_number_range(segment, enums):
    """(type, min, max) from the first parse_number(p, k, OPT_X, min, max, &v) in segment."""
    m = re.search(r'parse_number\s*\(\s*\w+\s*,\s*\w+\s*,\s*(OPT_\w+)\s*,\s*([^,]+?)\s*,\s*([^,]+?)\s*,', segment)
    if not m:
        return None
    return m.group(1), c_int(m.group(2), enums), c_int(m.group(3), enums)


def expected_keys_in_message(body):
    """The key names an 'unknown key' error message of body lists, or None."""
    m = re.search(r'"unknown key[^"]*\(expected ([^)"]*)', body)
    if not m:
        return None
    listed = re.sub(r'%[-+ #0-9.]*[a-z]+', ' ', m.group(1))  # "... or one of: %s" (filled in below)
    return set(re.findall(r'[a-z][a-z0-9_]*', listed)) - {'or', 'one', 'of', 'expected'}


class Units:
    """common/units.c's suffix tables, to read values as the parser does."""

    def __init__(self, src):
        self.tables = {}
        for name in ('duration_units', 'size_units'):
            text = initializer(src, name) or ''
            table = {}
            for suffix, factor in re.findall(r'\{\s*"([^"]*)"\s*,\s*([^}]+?)\s*\}', text):
                v = c_int(factor)
                if v is not None:
                    table[suffix.lower()] = v
            if len(table) < 3:
                fail(f'common/units.c: could not read the {name} table (found {len(table)} suffixes)')
            self.tables[name] = table

    def parse(self, opt_type, text):
        table = {'OPT_DURATION': 'duration_units', 'OPT_SIZE': 'size_units'}.get(opt_type)
        m = re.fullmatch(r'(\d+)([A-Za-z]*)', text.strip())
        if not m:
            return None
        if table is None:
            return int(m.group(1)) if not m.group(2) else None
        factor = self.tables[table].get(m.group(2).lower())
        return None if factor is None else int(m.group(1)) * factor


# ---- roff (scdoc's output) ---------------------------------------------------------------------

def plain(roff):
    """roff text without font escapes and other escapes scdoc writes."""
    t = re.sub(r'\\f(?:[BIRP]|\(..|\[[^]]*\])', '', roff)
    t = t.replace('\\&', '').replace('\\-', '-').replace('\\(aq', "'").replace('\\*(Aq', "'")
    t = t.replace('\\(bu', '*').replace('\\e', '\\').replace('\\\\', '\\')
    return t


def split_sections(roff, macro):
    """[(title, text)] for each .SH (macro 'SH') or .SS (macro 'SS') in roff."""
    parts = re.split(r'^\.' + macro + r' +(.*)$', roff, flags=re.M)
    return [(parts[i].strip().strip('"'), parts[i + 1]) for i in range(1, len(parts), 2)]


def sections(roff):
    """{.SH title: text}; .SS subsections stay in their section's text."""
    return dict(split_sections(roff, 'SH'))


def entries(text):
    """[(term line (raw roff), entry text (raw roff))] of scdoc's definition lists: a term is a
    text line followed by .RS (the indented description); its entry runs up to the next term."""
    lines = text.split('\n')
    terms = [i for i in range(len(lines) - 1)
             if lines[i + 1].startswith('.RS') and lines[i].strip() and not lines[i].startswith('.')]
    return [(lines[t], '\n'.join(lines[t:terms[k + 1] if k + 1 < len(terms) else len(lines)]))
            for k, t in enumerate(terms)]


def has_word(text, word):
    """word (an option or a name) in text, not as part of a longer one."""
    return re.search(r'(?<![\w-])' + re.escape(word) + r'(?![\w-])', text) is not None


def documented_default(entry_roff):
    """The italic value after 'Default:' in an entry, or None."""
    m = re.search(r'Default:\s+\\fI(.*?)\\fR', entry_roff)
    return plain(m.group(1)).strip() if m else None


def documented_range(entry_roff):
    m = re.search(r'Range:\s+\\fI(.*?)\\fR\s+to\s+\\fI(.*?)\\fR', entry_roff)
    return (plain(m.group(1)).strip(), plain(m.group(2)).strip()) if m else None


# ---- (a) relaypoold.conf(5) -----------------------------------------------------------------

def config_keys(src_root):
    """{section: {key: {'type', 'min', 'max', 'default'}}} from the parser's sources."""
    opts_src = strip_comments(read(os.path.join(src_root, 'daemon', 'config_opts.c')))
    opts_h = strip_comments(read(os.path.join(src_root, 'daemon', 'config_opts.h')))
    conf_src = strip_comments(read(os.path.join(src_root, 'daemon', 'config.c')))
    conf_h = read(os.path.join(src_root, 'daemon', 'config.h'))
    log_src = strip_comments(read(os.path.join(src_root, 'daemon', 'log.c')))
    headers = ''.join(read(os.path.join(src_root, d, f)) for d in ('common', 'daemon')
                      for f in sorted(os.listdir(os.path.join(src_root, d))) if f.endswith('.h'))
    macros = dict(re.findall(r'#define\s+(\w+)\s+"([^"]*)"', headers))

    enums = {}
    for m in re.finditer(r'enum\s+\w+\s*\{([^}]*)\}', opts_h):
        for i, name in enumerate(n.strip() for n in m.group(1).split(',') if n.strip()):
            enums[name.split('=')[0].strip()] = i
    auth_names = {}
    for idx, name in re.findall(r'\[\s*(\w+)\s*\]\s*=\s*"(\w+)"', initializer(opts_src, 'auth_names') or ''):
        if idx in enums:
            auth_names[enums[idx]] = name
    level_names = {f'LOG_{idx}': name for idx, name in re.findall(r'\[\s*LOG_(\w+)\s*\]\s*=\s*"(\w+)"', log_src)}

    keys = {s: {} for s in CONF_SECTIONS}

    # [pool] options: POOL_OPT(name, type, min, max, default) or { "name", type, offsetof(...), min, max, default }.
    table = initializer(opts_src, 'config_pool_defs')
    if table is None:
        fail('daemon/config_opts.c: config_pool_defs[] not found')
        table = ''
    n_entries = len(re.findall(r'POOL_OPT\s*\(', table)) + len(re.findall(r'\{\s*"', table))
    pattern = re.compile(
        r'POOL_OPT\s*\(\s*(\w+)\s*,\s*(OPT_\w+)\s*,\s*([^,]+?)\s*,\s*([^,]+?)\s*,\s*([^)]+?)\s*\)'
        r'|\{\s*"(\w+)"\s*,\s*(OPT_\w+)\s*,\s*offsetof\s*\([^)]*\)\s*,\s*([^,]+?)\s*,\s*([^,]+?)\s*,\s*([^}]+?)\s*\}')
    for m in pattern.finditer(table):
        g = m.groups()
        name, typ, lo, hi, dflt = g[0:5] if g[0] else g[5:10]
        keys['pool'][name] = {'type': typ, 'min': c_int(lo, enums), 'max': c_int(hi, enums),
                              'default': c_int(dflt, enums)}
    if len(keys['pool']) != n_entries:
        fail(f'daemon/config_opts.c: read {len(keys["pool"])} of the {n_entries} entries of config_pool_defs[]')
    if len(keys['pool']) < MIN_KEYS['pool_table']:
        fail(f'daemon/config_opts.c: only {len(keys["pool"])} [pool] options found; the extraction is broken')
    pool_table = set(keys['pool'])

    # Keys config.c compares by name, per section, with the range of their parse_number().
    funcs = {'daemon': 'interpret_daemon_key', 'pool': 'interpret_section', 'relay': 'interpret_relay_key',
             'group': 'interpret_group_key'}
    for section, func in funcs.items():
        body = function_body(conf_src, func)
        if body is None:
            fail(f'daemon/config.c: function {func}() not found')
            continue
        segs = key_segments(body)
        for key, seg in segs.items():
            entry = {'type': None, 'min': None, 'max': None, 'default': None}
            rng = parse_number_range(seg, enums)
            if rng:
                entry.update(type=rng[0], min=rng[1], max=rng[2])
            keys[section][key] = entry
        need = MIN_KEYS['pool_extra' if section == 'pool' else section]
        if len(segs) < need:
            fail(f'daemon/config.c: only {len(segs)} [{section}] keys found in {func}(); the extraction is broken')
        # The error message for an unknown key lists the keys; it must agree with the parser.
        listed = expected_keys_in_message(body)
        if section == 'daemon':
            m = re.search(r'daemon_keys\s*=\s*((?:"(?:[^"\\]|\\.)*"\s*)+);', conf_src)
            listed = set(re.findall(r'[a-z][a-z0-9_]*', c_string_concat(m.group(1)))) if m else None
        if listed is None:
            fail(f'daemon/config.c: the "unknown key" message of {func}() not found')
        elif listed != set(segs):
            fail(f'daemon/config.c: the "unknown key" message of [{section}] lists {sorted(listed)}, '
                 f'but {func}() handles {sorted(segs)}')
    if function_body(conf_src, 'interpret_relay_key') and 'interpret_pool_key' not in (
            function_body(conf_src, 'interpret_relay_key') or ''):
        fail('daemon/config.c: interpret_relay_key() no longer takes the [pool] options; update this check')

    # Defaults: set_defaults() for [daemon] and the [pool] extras, add_relay() for [relay].
    body = function_body(conf_src, 'set_defaults') or ''
    if not body:
        fail('daemon/config.c: set_defaults() not found')
    for where, value in re.findall(r'c->((?:daemon\.)?\w+)\s*=\s*([^;]+);', body):
        section, key = ('daemon', where[7:]) if where.startswith('daemon.') else ('pool', where)
        if key not in keys[section]:
            continue
        v = value.strip()
        m = re.fullmatch(r'xstrdup\s*\(\s*(?:"([^"]*)"|(\w+))\s*\)', v)
        if m:
            d = m.group(1) if m.group(1) is not None else macros.get(m.group(2))
        elif v in level_names:
            d = level_names[v]
        elif c_int(v) is not None:
            d = c_int(v)
            # A sentinel explained in config.h, e.g. "int verify_threads; /* ...; -1 = auto */".
            fm = re.search(r'\b' + re.escape(key) + r'\s*;\s*/\*([^*]*)\*/', conf_h)
            sm = fm and re.search(r'(-?\d+)\s*=\s*([a-z]+)', fm.group(1))
            if sm and int(sm.group(1)) == d:
                d = sm.group(2)
        else:
            d = None
            info(f'note: the default of [{section}] {key} ({v}) is not checked')
        keys[section][key]['default'] = d
    body = function_body(conf_src, 'add_relay') or ''
    for key, value in re.findall(r'r->(\w+)\s*=\s*(true|false)\s*;', body):
        if key in keys['relay']:
            keys['relay'][key].update(type='bool', default=value == 'true')
    for key, k in keys['pool'].items():
        if k['type'] == 'OPT_AUTH':
            k['default'] = auth_names.get(k['default'], k['default'])
            k['min'] = k['max'] = None
    return keys, pool_table


def same_value(units, typ, documented, code):
    """Whether the page's value (text) is the parser's (number, string or bool)."""
    if isinstance(code, bool):
        return documented in (('yes', 'true', 'on', '1') if code else ('no', 'false', 'off', '0'))
    if isinstance(code, str):
        return documented == code
    if typ in ('OPT_COUNT', 'OPT_DURATION', 'OPT_SIZE'):
        return units.parse(typ, documented) == code
    return documented == str(code)


def check_conf(build, src_root, units):
    print('(a) relaypoold.conf(5) against daemon/config.c and daemon/config_opts.c')
    keys, pool_table = config_keys(src_root)
    for s, ks in keys.items():
        shown = []
        for key, k in ks.items():
            extra = '' if k['default'] is None else f'={k["default"]}'
            if k['min'] is not None and k['max'] is not None:
                extra += f' [{k["min"]}..{k["max"]}]'
            shown.append(key + extra)
        info(f'[{s}] keys in the parser ({len(ks)}): {", ".join(shown)}')
    info('(durations in ms, sizes in bytes; [relay] also takes the [pool] table\'s keys)')
    roff = read(os.path.join(build, 'man', 'relaypoold.conf.5'))
    secs = sections(roff)
    checked = 0
    for section, title in CONF_SECTIONS.items():
        if title not in secs:
            fail(f'relaypoold.conf.5: no section "{title}"')
            continue
        documented = {}
        for term, entry in entries(secs[title]):
            m = re.match(r'\\fB([A-Za-z0-9_]+)\\fR', term)
            if m:
                documented[m.group(1)] = entry
        allowed = set(keys[section]) | (pool_table if section == 'relay' else set())
        for key in sorted(set(documented) - allowed):
            fail(f'relaypoold.conf.5: "{title}" documents {key}, which the parser does not take in [{section}]')
        for key, k in keys[section].items():
            checked += 1
            entry = documented.get(key)
            if entry is None:
                fail(f'relaypoold.conf.5: [{section}] {key} is not documented in "{title}"')
                continue
            d = documented_default(entry)
            if k['default'] is None and d is not None:
                fail(f'relaypoold.conf.5: [{section}] {key}: the page gives the default "{d}", the parser none')
            elif k['default'] is not None and d is None:
                fail(f'relaypoold.conf.5: [{section}] {key}: no "Default: _value_" (the parser\'s is {k["default"]!r})')
            elif k['default'] is not None and not same_value(units, k['type'], d, k['default']):
                fail(f'relaypoold.conf.5: [{section}] {key}: the page says default "{d}", the parser {k["default"]!r}')
            if k['min'] is not None and k['max'] is not None:
                r = documented_range(entry)
                if r is None:
                    fail(f'relaypoold.conf.5: [{section}] {key}: no "Range: _min_ to _max_" '
                         f'(the parser\'s is {k["min"]} to {k["max"]})')
                elif not (same_value(units, k['type'], r[0], k['min']) and
                          same_value(units, k['type'], r[1], k['max'])):
                    fail(f'relaypoold.conf.5: [{section}] {key}: the page says range {r[0]} to {r[1]}, '
                         f'the parser {k["min"]} to {k["max"]}')
    relay_text = plain(secs.get(CONF_SECTIONS['relay'], ''))
    for key in sorted(set(keys['pool']) - pool_table):
        if not has_word(relay_text, key):
            fail(f'relaypoold.conf.5: "{CONF_SECTIONS["relay"]}" should say that {key} is [pool] only')
    info(f'checked {checked} keys: documented in their section, with the parser\'s default and range')


# ---- (b) relaypoolctl(1), (c) relaypoold(8) ----------------------------------------------------

def run_help(argv):
    env = dict(os.environ, LC_ALL='C', RELAYPOOL_SOCKET='/nonexistent/relaypool-check-man.sock')
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=30)
    if p.returncode != 0 or not p.stdout.strip():
        fail(f'{" ".join(argv)}: exit status {p.returncode}, {len(p.stdout)} bytes of help: {p.stderr.strip()}')
    return p.stdout


def long_options(text):
    return set(re.findall(r'(?<![\w-])--[a-z][a-z0-9-]*', text))


def option_pairs(text):
    return set(re.findall(r'(?<![\w-])(-[A-Za-z0-9]),\s+(--[a-z][a-z0-9-]*)', text))


def check_options_in(page, where, text_roff, longs, pairs):
    """Each long option a term of text_roff's definition lists, with its short form."""
    terms = [plain(t) for t, _ in entries(text_roff)]
    for opt in sorted(longs):
        if not any(has_word(t, opt) for t in terms):
            fail(f'{page}: {where}: {opt} is not documented')
    for short, opt in sorted(pairs):
        if not any(has_word(t, opt) and has_word(t, short) for t in terms):
            fail(f'{page}: {where}: "{short}, {opt}" is not documented with both forms')


def check_ctl(build, src_root):
    print('(b) relaypoolctl(1) against ctl/main.c and "relaypoolctl COMMAND --help"')
    ctl = os.path.join(build, 'ctl', 'relaypoolctl')
    main_src = strip_comments(read(os.path.join(src_root, 'ctl', 'main.c')))
    cmd_src = ''.join(strip_comments(read(os.path.join(src_root, 'ctl', f)))
                      for f in sorted(os.listdir(os.path.join(src_root, 'ctl'))) if f.endswith('.c'))
    table = initializer(main_src, 'commands') or ''
    names = []
    for var in re.findall(r'&\s*(cmd_\w+)', table):
        m = re.search(r'const\s+struct\s+command\s+' + var + r'\s*=\s*\{\s*"([^"]+)"', cmd_src)
        if m:
            names.append(m.group(1))
        else:
            fail(f'ctl: the definition of {var} (in the command table) not found')
    if len(names) < MIN_COMMANDS:
        fail(f'ctl/main.c: only {len(names)} commands found in the command table; the extraction is broken')
    builtin = sorted(set(re.findall(r'strcmp\s*\(\s*argv\s*\[\s*optind\s*\]\s*,\s*"([a-z][a-z-]*)"\s*\)', main_src)))
    info(f'commands in the table: {len(names)}: {" ".join(names)}; handled by main(): {" ".join(builtin) or "none"}')

    general = run_help([ctl, '--help'])
    m = re.search(r'^Commands:\n((?:[ \t]+\S.*\n?)+)', general, re.M)
    listed = [line.split()[0] for line in m.group(1).splitlines()] if m else []
    for name in names:
        if name not in listed:
            fail(f'relaypoolctl --help does not list the command {name}')
    global_longs, global_pairs = long_options(general), option_pairs(general)
    info(f'global options in relaypoolctl --help: {" ".join(sorted(global_longs))}')

    roff = read(os.path.join(build, 'man', 'relaypoolctl.1'))
    secs = sections(roff)
    check_options_in('relaypoolctl.1', 'OPTIONS', secs.get('OPTIONS', ''), global_longs, global_pairs)
    subs = dict(split_sections(secs.get('COMMANDS', ''), 'SS'))
    n_opts = 0
    for name in names + builtin:
        if name not in subs:
            fail(f'relaypoolctl.1: COMMANDS has no subsection for {name}')
    for name in names:
        text = run_help([ctl, name, '--help'])
        longs = long_options(text) - global_longs
        pairs = {p for p in option_pairs(text) if p[1] not in global_longs}
        n_opts += len(longs)
        if name in subs:
            sub = plain(subs[name])
            for opt in sorted(longs):
                if not has_word(sub, opt):
                    fail(f'relaypoolctl.1: {name}: {opt} (in "relaypoolctl {name} --help") is not documented')
            check_options_in('relaypoolctl.1', name, subs[name], set(), pairs)
    info(f'checked {len(names) + len(builtin)} commands and {n_opts} command options, '
         f'{len(global_longs)} global options')


def check_daemon(build):
    print('(c) relaypoold(8) against "relaypoold --help"')
    text = run_help([os.path.join(build, 'daemon', 'relaypoold'), '--help'])
    longs, pairs = long_options(text), option_pairs(text)
    if len(longs) < MIN_DAEMON_OPTIONS:
        fail(f'relaypoold --help: only {len(longs)} options found; the extraction is broken')
    roff = read(os.path.join(build, 'man', 'relaypoold.8'))
    check_options_in('relaypoold.8', 'OPTIONS', sections(roff).get('OPTIONS', ''), longs, pairs)
    info(f'checked {len(longs)} options: {" ".join(sorted(longs))}')


# ---- (d) rendering and structure ---------------------------------------------------------

def check_render(build):
    print(f'(d) rendering: MANWIDTH={MANWIDTH} man --warnings=w -l, groff -ww; sections; SEE ALSO')
    man, groff = shutil.which('man'), shutil.which('groff')
    if not man and not groff:
        fail('neither man nor groff is installed: the pages cannot be rendered')
    env = dict(os.environ, MANWIDTH=str(MANWIDTH), LC_ALL='C.UTF-8', MANPAGER='cat', PAGER='cat')
    env.pop('MANOPT', None)
    for page, required in PAGES.items():
        path = os.path.join(build, 'man', page)
        if not os.path.isfile(path):
            fail(f'{path} was not built')
            continue
        roff = read(path)
        name, section = page.rsplit('.', 1)
        if not re.search(r'^\.TH "?' + re.escape(name) + r'"? "?' + section + r'"?', roff, re.M):
            fail(f'{page}: .TH does not name {name}({section})')
        for marker in sorted(set(re.findall(r'@[A-Z_]+@', roff))):
            fail(f'{page}: the marker {marker} was not replaced')
        secs = sections(roff)
        for title in required:
            if title not in secs:
                fail(f'{page}: no {title} section')
        see_also = plain(secs.get('SEE ALSO', ''))
        for other in PAGES:
            if other != page:
                o_name, o_sec = other.rsplit('.', 1)
                if f'{o_name}({o_sec})' not in see_also:
                    fail(f'{page}: SEE ALSO does not name {o_name}({o_sec})')
        runs = []
        if man:
            runs.append([man, '--warnings=w', '-l', path])
        if groff:
            runs.append([groff, '-ww', '-man', '-Tutf8', '-z', path])
        for argv in runs:
            p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
            if p.returncode != 0 or p.stderr.strip():
                fail(f'{page}: {" ".join(argv[:-1])} exited {p.returncode} with: {p.stderr.strip()}')
            if argv[0] == man:
                wide = [line for line in p.stdout.splitlines() if len(line) > MANWIDTH]
                for line in wide[:5]:
                    fail(f'{page}: rendered line wider than {MANWIDTH} columns: {line.strip()}')
                if len(p.stdout.splitlines()) < 20:
                    fail(f'{page}: man rendered only {len(p.stdout.splitlines())} lines')
        info(f'{page}: {len(secs)} sections, rendered by {" and ".join(os.path.basename(a[0]) for a in runs)}')


def main():
    if len(sys.argv) != 3:
        print(__doc__.split('\n')[0], file=sys.stderr)
        return 2
    build, src_root = (os.path.abspath(a) for a in sys.argv[1:])
    units = Units(strip_comments(read(os.path.join(src_root, 'common', 'units.c'))))
    for check in (lambda: check_conf(build, src_root, units), lambda: check_ctl(build, src_root),
                  lambda: check_daemon(build), lambda: check_render(build)):
        try:
            check()
        except (OSError, subprocess.SubprocessError) as e:
            fail(f'{type(e).__name__}: {e}')
    if problems:
        print(f'FAIL: {len(problems)} problem(s)')
        return 1
    print('PASS')
    return 0


if __name__ == '__main__':
    sys.exit(main())
