"""The terms a block is indexed under and a query looks for: identifiers, paths and error codes findable whole and
by their parts, English filler left out."""

from agentctx.store.search_index import MAX_TERM_LENGTH, imp6, impact, terms


def test_a_snake_case_error_code_counts_whole_and_by_its_parts():
    assert set(terms("ERR_CONN_RESET")) == {"err_conn_reset", "err", "conn", "reset"}


def test_an_all_caps_error_code_is_one_term():
    assert terms("read ECONNRESET") == {"read": 1, "econnreset": 1}


def test_camel_case_counts_whole_and_by_its_words():
    assert set(terms("parseConfig")) == {"parseconfig", "pars", "config"}
    assert set(terms("HTTPServer")) == {"httpserver", "http", "server"}


def test_a_path_counts_whole_and_by_its_parts_each_split_further():
    assert set(terms("src/authLogin.ts")) == {"src/authlogin.ts", "src", "authlogin", "auth", "login", "ts"}


def test_dotted_and_dashed_and_coloned_names_are_compounds():
    assert {"node:fs", "node", "fs"} <= set(terms("import node:fs"))
    assert {"foo-bar.baz", "foo", "bar", "baz"} <= set(terms("foo-bar.baz"))


def test_stopwords_and_single_characters_are_left_out():
    assert terms("The cache is in a x y state") == {"cach": 1, "state": 1}


def test_terms_are_lowercased_and_counted():
    assert terms("Token token TOKEN refresh") == {"token": 3, "refresh": 1}


def test_a_long_token_is_cut():
    (term,) = terms("a" * 100)
    assert term == "a" * MAX_TERM_LENGTH


def test_terms_keep_the_order_of_first_occurrence():
    assert list(terms("zeta alpha zeta beta")) == ["zeta", "alpha", "beta"]


def test_impact_grows_with_frequency_and_shrinks_with_length_within_zero_and_one():
    assert 0 < impact(1, 500) < impact(1, 120) < impact(3, 120) < impact(50, 120) < 1
    # ascending imp6 order is most impactful first
    assert imp6(impact(3, 120)) < imp6(impact(1, 120)) and len(imp6(impact(1, 1))) == 6


def test_plain_words_are_stemmed_so_other_forms_match_and_identifiers_are_kept_whole():
    assert set(terms("retries")) == set(terms("retried")) == set(terms("retry")) == {"retri"}
    assert set(terms("uploads uploading")) == {"upload"}
    assert {"err_conn_reset", "econnreset", "v2"} <= set(terms("ERR_CONN_RESET ECONNRESET v2"))
