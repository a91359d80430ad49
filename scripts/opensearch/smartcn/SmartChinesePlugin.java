/*
 * Chinese word segmentation for the OpenSearch test server (scripts/services.sh).
 *
 * OpenSearch's own analysis-smartcn plugin is not on Maven Central, but the Lucene analyzer it
 * wraps is (org.apache.lucene:lucene-analysis-smartcn). This module exposes that analyzer under
 * the names the official plugin uses, so a mapping written for a production cluster that has
 * analysis-smartcn installed works here too:
 *   analyzer "smartcn", tokenizer "smartcn_tokenizer", token filter "smartcn_stop".
 * services.sh compiles it with javac against the assembled lib/ when it builds the home.
 */
package org.opendata.opensearch.smartcn;

import java.util.Map;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.StopFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.cn.smart.HMMChineseTokenizer;
import org.apache.lucene.analysis.cn.smart.SmartChineseAnalyzer;
import org.opensearch.index.analysis.AbstractIndexAnalyzerProvider;
import org.opensearch.index.analysis.AbstractTokenFilterFactory;
import org.opensearch.index.analysis.AbstractTokenizerFactory;
import org.opensearch.index.analysis.AnalyzerProvider;
import org.opensearch.index.analysis.TokenFilterFactory;
import org.opensearch.index.analysis.TokenizerFactory;
import org.opensearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.opensearch.plugins.AnalysisPlugin;
import org.opensearch.plugins.Plugin;

public final class SmartChinesePlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<AnalyzerProvider<? extends Analyzer>>> getAnalyzers() {
        return Map.of("smartcn", (indexSettings, environment, name, settings) ->
            new AbstractIndexAnalyzerProvider<SmartChineseAnalyzer>(indexSettings, name, settings) {
                // Thread-safe and loads its dictionaries once: one per index is plenty.
                private final SmartChineseAnalyzer analyzer = new SmartChineseAnalyzer();

                @Override
                public SmartChineseAnalyzer get() {
                    return analyzer;
                }
            });
    }

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of("smartcn_tokenizer", (indexSettings, environment, name, settings) ->
            new AbstractTokenizerFactory(indexSettings, settings, name) {
                @Override
                public Tokenizer create() {
                    return new HMMChineseTokenizer();
                }
            });
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of("smartcn_stop", (indexSettings, environment, name, settings) ->
            new AbstractTokenFilterFactory(indexSettings, name, settings) {
                @Override
                public TokenStream create(TokenStream input) {
                    // Punctuation and a few function words, the stop set of SmartChineseAnalyzer.
                    return new StopFilter(input, SmartChineseAnalyzer.getDefaultStopSet());
                }
            });
    }
}
