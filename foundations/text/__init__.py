"""Text: Lesson 12's second half, from raw reviews to a ULMFiT classifier.

- :mod:`~foundations.text.tokens`: the tokenizer's rules, the split, special tokens, parallel
  tokenising; :mod:`~foundations.text.vocab`: ``Vocab`` and the data block processors;
  :mod:`~foundations.text.corpus`: IMDB and WikiText-2, read and tokenised once;
  :mod:`~foundations.text.loaders`: the language-model stream, sortish batches, padding
  (Lesson 12, "Text for a model");
- :mod:`~foundations.text.awd_lstm`: the LSTM by hand, the dropouts, AWD-LSTM and its decoder;
  :mod:`~foundations.text.train`: flat losses, AR/TAR, the hidden-state reset, generation
  (Lesson 12, "AWD-LSTM");
- :mod:`~foundations.text.ulmfit`: concat pooling, the classifier, layer groups, gradual unfreezing,
  discriminative learning rates (Lesson 12, "ULMFiT");
- :mod:`~foundations.text.pretrain`: the lesson's experiments as cached artifacts (the corpus, the
  pre-trained and fine-tuned language models, the classifiers) in the default and full settings.

This package imports the core, ``foundations.data`` and ``foundations.callbacks``; nothing outside it
imports it.
"""

from foundations.text.awd_lstm import (
    AWDLSTM,
    AWDLSTMConfig,
    EmbeddingDropout,
    LinearDecoder,
    LSTMCell,
    LSTMLayer,
    RNNDropout,
    SequentialRNN,
    WeightDropout,
    dropout_mask,
    get_language_model,
    to_detach,
)
from foundations.text.corpus import IMDB_CLASSES, imdb_files, read_imdb, read_wikitext, tokenized
from foundations.text.loaders import LMDataLoader, SortishSampler, SortSampler, lm_data, pad_collate, text_classifier_data
from foundations.text.pretrain import (
    ClassifierStage,
    TextSetting,
    fine_tune_classifier,
    fine_tuned_lm,
    lm_corpus,
    one_cycle,
    pretrained_lm,
    text_setting,
    train_lm,
    ulmfit_experiments,
)
from foundations.text.tokens import SPECIAL_TOKENS, Tokenizer, split_words, tokenize_texts
from foundations.text.train import (
    RNNRegularizer,
    ResetHidden,
    accuracy_flat,
    activation_reg,
    cross_entropy_flat,
    generate,
    temporal_activation_reg,
)
from foundations.text.ulmfit import (
    PoolingLinearClassifier,
    TextClassifier,
    discriminative_lrs,
    freeze_to,
    get_text_classifier,
    group_splitter,
    layer_groups,
    load_encoder,
    masked_concat_pool,
)
from foundations.text.vocab import NumericalizeProcessor, TokenizeProcessor, Vocab

__all__ = [
    "AWDLSTM", "AWDLSTMConfig", "ClassifierStage", "EmbeddingDropout", "IMDB_CLASSES", "LMDataLoader",
    "LSTMCell", "LSTMLayer", "LinearDecoder", "NumericalizeProcessor", "PoolingLinearClassifier",
    "RNNDropout", "RNNRegularizer", "ResetHidden", "SPECIAL_TOKENS", "SequentialRNN", "SortSampler",
    "SortishSampler", "TextClassifier", "TextSetting", "TokenizeProcessor", "Tokenizer", "Vocab",
    "WeightDropout", "accuracy_flat", "activation_reg", "cross_entropy_flat", "discriminative_lrs",
    "dropout_mask", "fine_tune_classifier", "fine_tuned_lm", "freeze_to", "generate", "get_language_model",
    "get_text_classifier", "group_splitter", "imdb_files", "layer_groups", "lm_corpus", "lm_data",
    "load_encoder", "masked_concat_pool", "one_cycle", "pad_collate", "pretrained_lm", "read_imdb", "read_wikitext",
    "split_words", "temporal_activation_reg", "text_classifier_data", "text_setting", "to_detach",
    "tokenize_texts", "tokenized", "train_lm", "ulmfit_experiments",
]
