# bash completion for relaypoolctl                         -*- shell-script -*-
#
# Installed as "relaypoolctl" in bash-completion's completions directory, where it is
# loaded on the first <TAB> after relaypoolctl; or source this file from ~/.bashrc.
#
# Commands and options are written out here (from each command's --help); relay and
# group names and outbox row numbers are asked from the running daemon, through
# relaypoolctl itself, on the socket given on the line (-s/--socket) or else the one
# relaypoolctl picks by itself ($RELAYPOOL_SOCKET or its default). The query is bounded
# by a 2 s timeout; a daemon that cannot be reached simply completes nothing.

# The values of one JSON path in JSON documents (one per line) read from standard
# input, one per line, strings without their quotes. A path is like .result.relays[].name
# (".key" for an object member, "[]" for any array element). Plain bash and grep: jq
# and python may be missing. Only values that are plain tokens are printed.
_relaypoolctl_json_values()
{
    local want=$1 tok vpath d=0 key=''
    local -a ctype=() cpath=() toks=()

    # Tokens: an object key with its colon ("key":), a string (escapes included), a
    # bracket, or a bare scalar; commas and blanks dropped.
    mapfile -t toks < <(LC_ALL=C grep -oE \
        '"([^"\\]|\\.)*"[[:space:]]*:|"([^"\\]|\\.)*"|[][{}]|[^][{}:,"[:space:]]+' 2>/dev/null)
    for tok in "${toks[@]}"; do
        case $tok in
            \"*:)
                key=${tok#\"}
                key=${key%\"*}
                continue
                ;;
            '}' | ']')
                ((d > 0)) && ((d--))
                continue
                ;;
        esac
        # A value: its path.
        if ((d == 0)); then
            vpath=''
        elif [[ ${ctype[d]} == o ]]; then
            vpath=${cpath[d]}.$key
        else
            vpath=${cpath[d]}[]
        fi
        case $tok in
            '{' | '[')
                ((d++))
                cpath[d]=$vpath
                if [[ $tok == '{' ]]; then ctype[d]=o; else ctype[d]=a; fi
                ;;
            *)
                [[ $vpath == "$want" ]] || continue
                if [[ $tok == \"*\" ]]; then
                    [[ $tok == *\\* ]] && continue
                    tok=${tok#\"}
                    tok=${tok%\"}
                fi
                # Only plain tokens (relaypoold's names are [A-Za-z0-9._-]): compgen -W
                # expands its word list, so nothing else may reach it.
                [[ $tok =~ ^[A-Za-z0-9._-]+$ ]] && printf '%s\n' "$tok"
                ;;
        esac
    done
}

# Runs relaypoolctl --json ARGS... against the daemon of the command line, at most 2 s,
# and prints the values of the JSON path $1 in its replies. Silent on any failure.
_relaypoolctl_query()
{
    local path=$1
    shift
    local prog=relaypoolctl
    # The relaypoolctl being completed, when it was given as a path (./build/ctl/...).
    if [[ ${_rpctl_prog-} == */* ]]; then
        local p=$_rpctl_prog
        [[ $p == \~/* ]] && p=$HOME/${p#\~/}
        [[ -x $p && ! -d $p ]] && prog=$p
    fi
    local -a cmd=("$prog")
    [[ ${_rpctl_socket-} ]] && cmd+=(--socket "$_rpctl_socket")
    cmd+=(--json "$@")
    if type -P timeout >/dev/null 2>&1; then
        cmd=(timeout 2 "${cmd[@]}")
    fi
    "${cmd[@]}" </dev/null 2>/dev/null | _relaypoolctl_json_values "$path"
}

_relaypoolctl_relays()
{
    _relaypoolctl_query ".result.relays[].name" relays
}

_relaypoolctl_groups()
{
    _relaypoolctl_query ".result.groups[].name" status
}

_relaypoolctl_rows()
{
    _relaypoolctl_query ".result.rows[].row" outbox --failed
}

# COMPREPLY = the words of $1 (separated by blanks or newlines) that start with $cur.
_relaypoolctl_reply()
{
    local IFS=$' \t\n'
    # shellcheck disable=SC2207 # compgen's words never hold blanks here
    COMPREPLY=($(compgen -W "$1" -- "$cur"))
}

_relaypoolctl_files()
{
    if declare -F _filedir >/dev/null; then
        _filedir
    else
        compopt -o filenames 2>/dev/null
        local IFS=$'\n'
        # shellcheck disable=SC2207
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}

_relaypoolctl()
{
    local cur prev words cword split=false

    if declare -F _init_completion >/dev/null; then
        _init_completion -s || return
    else
        # Without bash-completion: bash splits "--opt=value" into "--opt" "=" "value".
        # Glue those back into one word, as _init_completion -s does, then split cur.
        words=()
        cword=0
        local i w glue=0
        for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
            w=${COMP_WORDS[i]}
            if [[ $w == = && ${#words[@]} -gt 0 && ${words[${#words[@]} - 1]} == --?* ]]; then
                words[${#words[@]} - 1]+='='
                glue=1
            elif ((glue)); then
                words[${#words[@]} - 1]+=$w
                glue=0
            else
                words+=("$w")
            fi
            ((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))
        done
        cur=${words[cword]-}
        prev=${words[cword - 1]-}
        if [[ $cur == --?*=* ]]; then
            prev=${cur%%=*}
            cur=${cur#*=}
            split=true
        fi
        COMPREPLY=()
    fi

    local commands='status reload version publish query sync outbox relays stats metrics
trace subscribe subscriptions sign verify help'
    local global_opts='-s --socket -j --json -q --quiet -h --help --version'

    # The global options before the command, and the command.
    local _rpctl_prog=${words[0]} _rpctl_socket='' command='' cmd_index=0 i w
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            -s | --socket)
                ((i + 1 < cword)) && _rpctl_socket=${words[i + 1]}
                i=$((i + 1))
                ;;
            --socket=*) _rpctl_socket=${words[i]#--socket=} ;;
            --*) ;;
            -?*)
                # A cluster of short options (-js PATH, -sPATH).
                w=${words[i]#-}
                while [[ $w ]]; do
                    if [[ $w == s* ]]; then
                        if [[ ${w#s} ]]; then
                            _rpctl_socket=${w#s}
                        else
                            ((i + 1 < cword)) && _rpctl_socket=${words[i + 1]}
                            i=$((i + 1))
                        fi
                        break
                    fi
                    w=${w#?}
                done
                ;;
            *)
                command=${words[i]}
                cmd_index=$i
                break
                ;;
        esac
    done
    [[ $_rpctl_socket == \~/* ]] && _rpctl_socket=$HOME/${_rpctl_socket#\~/}

    if [[ -z $command ]]; then
        case $prev in
            -s | --socket)
                _relaypoolctl_files
                return
                ;;
        esac
        if [[ $cur == -* ]]; then
            _relaypoolctl_reply "$global_opts"
        else
            _relaypoolctl_reply "$commands"
        fi
        return
    fi

    # Per command: its options, those that take a value, and what completes the value.
    # --json is taken after any command too (main.c); --help by every command.
    local opts='' value_opts='' rest
    case $command in
        status | reload | version | metrics | subscriptions) ;;
        publish)
            opts='-r --relay -g --group -q --quorum -n --no-wait -T --timeout -S --sign -k --kind
-c --content -t --tag'
            value_opts='-r --relay -g --group -q --quorum -T --timeout -k --kind -c --content -t --tag'
            ;;
        query)
            opts='-l --limit'
            value_opts='-l --limit'
            ;;
        sync)
            opts='-g --group -r --relay -f --filter -s --since -m --method -u --up -T --timeout'
            value_opts='-g --group -r --relay -f --filter -s --since -m --method -T --timeout'
            ;;
        outbox)
            opts='-p --pending -f --failed -r --relay -l --limit'
            value_opts='-r --relay -l --limit'
            ;;
        relays)
            opts='--info'
            value_opts='--info'
            ;;
        stats)
            opts='-w --watch'
            value_opts='-w --watch'
            ;;
        trace)
            opts='-r --relay'
            value_opts='-r --relay'
            ;;
        subscribe)
            opts='-r --relay -g --group -s --since -n --no-cache -e --until-eose'
            value_opts='-r --relay -g --group -s --since'
            ;;
        sign)
            opts='-k --kind -c --content -t --tag -T --created-at'
            value_opts='-k --kind -c --content -t --tag -T --created-at'
            ;;
        verify) ;;
        help)
            # relaypoolctl help [COMMAND]
            if ((cword == cmd_index + 1)) && [[ $cur != -* ]]; then
                _relaypoolctl_reply "$commands"
            fi
            return
            ;;
        *) return ;;
    esac
    opts+=' --json -h --help'

    # The value of an option.
    if [[ $prev == -* && " ${value_opts//$'\n'/ } " == *" $prev "* ]]; then
        case $command:$prev in
            *:-r | *:--relay | relays:--info) _relaypoolctl_reply "$(_relaypoolctl_relays)" ;;
            *:-g | *:--group) _relaypoolctl_reply "$(_relaypoolctl_groups)" ;;
            sync:-m | sync:--method) _relaypoolctl_reply $'auto\nnegentropy\nreq' ;;
            publish:-q | publish:--quorum) _relaypoolctl_reply $'all\nany' ;;
        esac
        # Anything else (N, TEXT, JSON, T, D, SECONDS) is free text: nothing to offer.
        return
    fi
    [[ $split == true ]] && return

    if [[ $cur == -* ]]; then
        _relaypoolctl_reply "$opts"
        return
    fi

    # Positional arguments: count those before the cursor, skipping option values.
    local -a args=()
    for ((i = cmd_index + 1; i < cword; i++)); do
        case ${words[i]} in
            --) ;;
            --*=*) ;;
            -*)
                [[ " ${value_opts//$'\n'/ } " == *" ${words[i]} "* ]] && i=$((i + 1))
                ;;
            *) args+=("${words[i]}") ;;
        esac
    done

    case $command in
        publish | sign | verify)
            # [FILE|-]
            ((${#args[@]} == 0)) && _relaypoolctl_files
            ;;
        outbox)
            # outbox [options] | retry ID | drop ID (retry and drop come first)
            if ((cword == cmd_index + 1)); then
                _relaypoolctl_reply $'retry\ndrop'
            elif ((cword == cmd_index + 2)) && [[ ${words[cmd_index + 1]} == retry || ${words[cmd_index + 1]} == drop ]]; then
                rest=$(_relaypoolctl_rows)
                _relaypoolctl_reply "$rest"
            fi
            ;;
        *) ;;
    esac
} &&
    complete -F _relaypoolctl relaypoolctl

# ex: filetype=sh
