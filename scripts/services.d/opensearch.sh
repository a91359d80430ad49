# OpenSearch, sourced by scripts/services.sh: one node on 127.0.0.1:9201 (not 9200, where a
# developer's own may run), no security plugin, data and logs under $STATE_DIR/opensearch.
# shellcheck shell=bash
#
# Only package registries are reachable, and OpenSearch's distribution archive is not on any of
# them, so the server is assembled from its jars on Maven Central into $OS_HOME:
#   lib/             org.opensearch:opensearch and everything it needs
#   modules/NAME/    each module of OS_MODULES: its jar and what it needs beyond lib/, plus the
#                    plugin-descriptor.properties and plugin-security.policy that the
#                    distribution's zip would carry (the jars do not); and analysis-smartcn
# and run with `java -cp "lib/*" org.opensearch.bootstrap.OpenSearch` as the opensearch user (it
# refuses root). scripts/opensearch/ holds the pom that fetches the jars, the modules' security
# policies, the logging config and the smartcn module's source. The home is rebuilt only when
# what it is made from changes (os_recipe); about a minute and a half on a new machine.

OS_VERSION=2.19.6
OS_PORT=9201
OS_USER=opensearch
OS_SRC=$SCRIPT_DIR/opensearch
OS_HOME=$STATE_DIR/opensearch-home
OS_DIR=$STATE_DIR/opensearch
OS_LOG=$STATE_DIR/opensearch.log
OS_PID=$OS_DIR/opensearch.pid
OS_MAIN=org.opensearch.bootstrap.OpenSearch
OS_READY_TIMEOUT=120
# 2.19 needs Java 11 to 23: it installs a security manager, which Java 24 removed. Pin Java 17
# whatever JAVA_HOME says, so a newer default JDK does not break it. A JDK, not just a JRE:
# the smartcn module is compiled when the home is assembled.
OS_JDK=/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)
OS_JAVA=$OS_JDK/bin/java

# The modules, as "folder artifactId-under-org.opensearch.plugin plugin-class extended-plugin".
# transport-netty4 is the HTTP and transport layer (without it the node has no network);
# analysis-common has the cjk analyzer, synonym and n-gram filters, etc.; lang-painless runs
# scripts and is extended by analysis-common; mapper-extras has scaled_float, token_count,
# search_as_you_type and rank_feature; reindex has _reindex, _update_by_query and
# _delete_by_query. The rest of the distribution's modules are not needed by the tests.
# Besides these, assemble_opensearch adds analysis-smartcn (Chinese word segmentation), built
# from scripts/opensearch/smartcn/ because OpenSearch does not publish that plugin on Maven.
OS_MODULES=(
    "transport-netty4 transport-netty4-client org.opensearch.transport.Netty4Plugin -"
    "lang-painless lang-painless org.opensearch.painless.PainlessPlugin -"
    "analysis-common analysis-common org.opensearch.analysis.common.CommonAnalysisPlugin lang-painless"
    "mapper-extras mapper-extras-client org.opensearch.index.mapper.MapperExtrasPlugin -"
    "reindex reindex-client org.opensearch.index.reindex.ReindexPlugin -"
)

install_opensearch_tools() {
    local -a packages=()
    [[ -x $OS_JDK/bin/javac ]] || packages+=(openjdk-17-jdk-headless)
    command -v mvn >/dev/null || packages+=(maven)
    ((${#packages[@]} == 0)) || apt_install "${packages[@]}"
    [[ -x $OS_JDK/bin/javac ]] || die "no Java 17 JDK in $OS_JDK after installing openjdk-17-jdk-headless"
    ensure_user "$OS_USER"
}

# What the assembled home is built from: when this changes, the home is built again.
os_recipe() {
    {
        declare -f assemble_opensearch os_fetch_module os_describe_module
        echo "$OS_VERSION"
        printf "%s\n" "${OS_MODULES[@]}"
        cat "$OS_SRC/pom.xml" "$OS_SRC"/policy/*.policy "$OS_SRC"/smartcn/*.java
    } | sha256sum | cut -d' ' -f1
}

# os_fetch_module HOME NAME GROUP ARTIFACT VERSION: copy GROUP:ARTIFACT:VERSION and what it needs
# into HOME/modules/NAME (into HOME/lib for NAME lib), less the jars that lib/ already has.
os_fetch_module() {
    local home=$1 name=$2 dir jar
    dir=$home/modules/$name
    [[ $name != lib ]] || dir=$home/lib
    local -a args=(-B -q -f "$OS_SRC/pom.xml" -Dopensearch.version="$OS_VERSION" -Dpiece.groupId="$3"
        -Dpiece.artifactId="$4" -Dpiece.version="$5" dependency:copy-dependencies -DoutputDirectory="$dir")
    # Offline first: after the first start everything is in ~/.m2 and Maven need not ask.
    # Maven runs seven times here, for seconds each: the JIT's first tier alone and the serial GC
    # halve each run on 2 cores.
    local -x MAVEN_OPTS="${MAVEN_OPTS:-} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    local out
    if ! mvn -o "${args[@]}" >/dev/null 2>&1 && ! out=$(mvn "${args[@]}" 2>&1); then
        printf "%s\n" "$out" >&2
        die "could not fetch $3:$4:$5 from Maven Central"
    fi
    [[ -e $dir/$4-$5.jar ]] || die "$4-$5.jar missing after fetching it"
    [[ $name == lib ]] && return
    # A class both in lib/ and in a module is "jar hell" to the plugin loader.
    for jar in "$dir"/*.jar; do
        [[ ! -e $home/lib/${jar##*/} ]] || rm "$jar"
    done
}

# os_describe_module HOME NAME CLASSNAME EXTENDS DESCRIPTION: what the module's zip would carry
# besides jars: the descriptor, and the security policy from scripts/opensearch/policy/.
os_describe_module() {
    local dir=$1/modules/$2 policy=$OS_SRC/policy/$2.policy
    {
        echo "name=$2"
        echo "description=$5"
        echo "version=$OS_VERSION"
        echo "opensearch.version=$OS_VERSION"
        echo "java.version=11"
        echo "classname=$3"
        [[ $4 == - ]] || echo "extended.plugins=$4"
    } >"$dir/plugin-descriptor.properties"
    [[ ! -f $policy ]] || cp "$policy" "$dir/plugin-security.policy"
}

assemble_opensearch() {
    local recipe entry name artifact classname extends lucene tmp
    recipe=$(os_recipe)
    if [[ -f $OS_HOME/.recipe && $(<"$OS_HOME/.recipe") == "$recipe" ]]; then
        return
    fi
    log "assembling OpenSearch $OS_VERSION in $OS_HOME from Maven Central (once)"
    tmp=$OS_HOME.tmp
    rm -rf "$tmp"
    # The node checks that bin/ and plugins/ exist, though nothing is in them.
    mkdir -p "$tmp/bin" "$tmp/modules" "$tmp/plugins"
    os_fetch_module "$tmp" lib org.opensearch opensearch "$OS_VERSION"
    for entry in "${OS_MODULES[@]}"; do
        read -r name artifact classname extends <<<"$entry"
        os_fetch_module "$tmp" "$name" org.opensearch.plugin "$artifact" "$OS_VERSION"
        os_describe_module "$tmp" "$name" "$classname" "$extends" \
            "OpenSearch module $name, from $artifact on Maven Central"
    done

    # smartcn: Lucene's analyzer, at the Lucene version of the server, and our plugin class.
    lucene=$(cd "$tmp/lib" && echo lucene-core-*.jar)
    lucene=${lucene#lucene-core-}
    lucene=${lucene%.jar}
    os_fetch_module "$tmp" analysis-smartcn org.apache.lucene lucene-analysis-smartcn "$lucene"
    "$OS_JDK/bin/javac" -nowarn --release 11 -d "$tmp/smartcn-classes" \
        -cp "$tmp/lib/*:$tmp/modules/analysis-smartcn/*" "$OS_SRC/smartcn/SmartChinesePlugin.java" ||
        die "could not compile $OS_SRC/smartcn/SmartChinesePlugin.java"
    "$OS_JDK/bin/jar" --create --file "$tmp/modules/analysis-smartcn/opendata-analysis-smartcn.jar" \
        -C "$tmp/smartcn-classes" .
    rm -r "$tmp/smartcn-classes"
    os_describe_module "$tmp" analysis-smartcn org.opendata.opensearch.smartcn.SmartChinesePlugin - \
        "Lucene's smartcn Chinese analyzer under the names of OpenSearch's analysis-smartcn plugin"

    echo "$recipe" >"$tmp/.recipe"
    chmod -R a+rX "$tmp"
    rm -rf "$OS_HOME"
    mv "$tmp" "$OS_HOME"
}

# The node's own config folder: OpenSearch writes its keystore there, so it belongs to OS_USER.
configure_opensearch() {
    install -d -o "$OS_USER" -g "$OS_USER" "$OS_DIR" "$OS_DIR/config" "$OS_DIR/data" \
        "$OS_DIR/logs" "$OS_DIR/tmp"
    cat >"$OS_DIR/config/opensearch.yml" <<EOF
# Written by scripts/services.sh at each start: edit that instead.
cluster.name: opendata-test
node.name: opendata-test
discovery.type: single-node
network.host: 127.0.0.1
http.port: $OS_PORT
path.data: $OS_DIR/data
path.logs: $OS_DIR/logs
# Test data is throwaway: keep allocating shards, and so accepting writes, on a nearly full disk.
cluster.routing.allocation.disk.threshold_enabled: false
EOF
    cp "$OS_SRC/log4j2.properties" "$OS_DIR/config/log4j2.properties"
    chown -R "$OS_USER:" "$OS_DIR/config"
    touch "$OS_LOG"
    chown "$OS_USER:" "$OS_LOG"
}

os_health() { curl -sf "http://127.0.0.1:$OS_PORT/_cluster/health" 2>/dev/null; }
os_ready() { os_health | grep -qE '"status":"(green|yellow)"'; }

start_opensearch() {
    install_opensearch_tools
    if pid_alive "$OS_PID" "$OS_MAIN" >/dev/null; then
        log "opensearch already running on 127.0.0.1:$OS_PORT"
    else
        ! port_open "$OS_PORT" || die "another server already answers on 127.0.0.1:$OS_PORT"
        assemble_opensearch
        configure_opensearch
        log "starting opensearch $OS_VERSION on 127.0.0.1:$OS_PORT (log: $OS_LOG)"
        # The distribution's config/jvm.options, cut down: heap, GC, and the properties that
        # its bin/opensearch would set.
        spawn "$OS_PID" "$OS_LOG" "$OS_USER" "$OS_JAVA" \
            -Xms512m -Xmx1g -XX:+UseG1GC -XX:-OmitStackTraceInFastThrow \
            -XX:+ShowCodeDetailsInExceptionMessages -XX:ErrorFile="$OS_DIR/logs/hs_err_pid%p.log" \
            -Djava.io.tmpdir="$OS_DIR/tmp" -Djava.awt.headless=true -Dfile.encoding=UTF-8 \
            -Djava.security.manager=allow -Djava.locale.providers=SPI,COMPAT -Djna.nosys=true \
            -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true \
            -Dio.netty.recycler.maxCapacityPerThread=0 -Dio.netty.allocator.numDirectArenas=0 \
            -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true \
            -Dopensearch.path.home="$OS_HOME" -Dopensearch.path.conf="$OS_DIR/config" \
            -Dopensearch.distribution.type=tar -Dopensearch.bundled_jdk=false \
            -cp "$OS_HOME/lib/*" "$OS_MAIN"
    fi
    # Also covers a node that was already running but is still starting.
    wait_ready opensearch "$OS_READY_TIMEOUT" "$OS_LOG" "$OS_PID" "$OS_MAIN" os_ready
    # One node has nowhere to put a replica: by default a new index would stay yellow, never
    # green. 2.19 reads this default only from the cluster's own settings, not opensearch.yml.
    curl -sf -XPUT "http://127.0.0.1:$OS_PORT/_cluster/settings" -H 'Content-Type: application/json' \
        -d '{"persistent": {"cluster.default_number_of_replicas": 0}}' >/dev/null ||
        die "opensearch: could not set cluster.default_number_of_replicas"
    log "opensearch ready on 127.0.0.1:$OS_PORT"
}

stop_opensearch() { stop_pid opensearch "$OS_PID" "$OS_MAIN"; }

status_opensearch() {
    local health
    if ! pid_alive "$OS_PID" "$OS_MAIN" >/dev/null; then
        echo "opensearch: stopped (data in $OS_DIR/data)"
        return 1
    fi
    if ! health=$(os_health); then
        echo "opensearch: running but not answering on 127.0.0.1:$OS_PORT (log: $OS_LOG)"
        return 1
    fi
    health=$(grep -oE '"status":"[a-z]+"' <<<"$health" | cut -d'"' -f4)
    echo "opensearch: running on 127.0.0.1:$OS_PORT, OpenSearch $OS_VERSION, cluster $health, data in $OS_DIR/data"
}

env_opensearch() {
    echo "export OPENDATA_TEST_OPENSEARCH_URL=opensearch+http://127.0.0.1:$OS_PORT"
}
