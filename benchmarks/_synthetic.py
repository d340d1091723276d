"""Deterministic synthetic "Akira's ML news" digests for the benchmarks.

``make_issue(rng, year, week)`` draws one weekly issue (English or Chinese, 8-25 items over
the four numbered sections, italic paper titles, arXiv links, link cards, images, editor's
picks and past-issue navigation).  ``SynthIssue.render()`` writes it in the real Markdown
format; ``SynthIssue.to_parsed()`` builds the ``ParsedIssue`` that ``parse_digest`` returns
for that text, so large archives can be stored without parsing.  ``self_check`` proves the
two agree.  Every word list below is synthetic; nothing is copied from real digests.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from bot.domain.digest import parse_digest
from bot.domain.model import ParsedIssue, ParsedItem, Section
from bot.domain.papers import paper_identity, resolve_link

Lang = Literal["en", "zh"]
DEFAULT_SEED = 20260521
MIN_ITEMS, MAX_ITEMS = 8, 25
MIN_SUMMARY, MAX_SUMMARY = 200, 600
WEEKS_PER_YEAR = 52  # every year has ISO weeks 1..52 (53 only sometimes)
TOPIC_TERMS = 3  # terms an item is "about"; its sentences mostly reuse them
TOPIC_STICKINESS = 0.85

# ---------------------------------------------------------------- vocabulary
# (english, chinese) pairs, most frequent first: terms are drawn with Zipf-like weights so a
# few (model, training, 模型, 训练) appear in a large share of items and most are rare.
TERMS: tuple[tuple[str, str], ...] = (
    ("model", "模型"),
    ("training", "训练"),
    ("image", "图像"),
    ("generation", "生成"),
    ("attention", "注意力"),
    ("transformer", "变换器"),
    ("dataset", "数据集"),
    ("accuracy", "准确率"),
    ("inference", "推理"),
    ("language model", "语言模型"),
    ("feature", "特征"),
    ("diffusion model", "扩散模型"),
    ("self-supervised learning", "自监督学习"),
    ("contrastive learning", "对比学习"),
    ("object detection", "目标检测"),
    ("segmentation", "分割"),
    ("graph neural network", "图神经网络"),
    ("reinforcement learning", "强化学习"),
    ("pre-training", "预训练"),
    ("fine-tuning", "微调"),
    ("parameters", "参数"),
    ("convolution", "卷积"),
    ("loss function", "损失函数"),
    ("data augmentation", "数据增强"),
    ("encoder", "编码器"),
    ("decoder", "解码器"),
    ("representation learning", "表示学习"),
    ("knowledge distillation", "知识蒸馏"),
    ("distillation", "蒸馏"),
    ("quantization", "量化"),
    ("pruning", "剪枝"),
    ("sparsity", "稀疏性"),
    ("adversarial examples", "对抗样本"),
    ("robustness", "鲁棒性"),
    ("anomaly detection", "异常检测"),
    ("super-resolution", "超分辨率"),
    ("wavelet transform", "小波变换"),
    ("wavelet", "小波"),
    ("normalization", "归一化"),
    ("regularization", "正则化"),
    ("optimizer", "优化器"),
    ("gradient", "梯度"),
    ("embedding", "嵌入"),
    ("retrieval", "检索"),
    ("tokenizer", "分词器"),
    ("latent space", "潜在空间"),
    ("autoencoder", "自编码器"),
    ("latency", "延迟"),
    ("hardware", "硬件"),
    ("mixture of experts", "专家混合"),
    ("prompt", "提示词"),
    ("few-shot learning", "少样本学习"),
    ("zero-shot", "零样本"),
    ("meta-learning", "元学习"),
    ("neural architecture search", "神经架构搜索"),
    ("point cloud", "点云"),
    ("depth estimation", "深度估计"),
    ("pose estimation", "姿态估计"),
    ("speech recognition", "语音识别"),
    ("machine translation", "机器翻译"),
    ("summarization", "文本摘要"),
    ("question answering", "问答"),
    ("knowledge graph", "知识图谱"),
    ("causal inference", "因果推断"),
    ("uncertainty", "不确定性"),
    ("calibration", "校准"),
    ("interpretability", "可解释性"),
    ("fairness", "公平性"),
    ("privacy", "隐私"),
    ("federated learning", "联邦学习"),
    ("recommendation", "推荐系统"),
    ("time series", "时间序列"),
    ("video understanding", "视频理解"),
    ("face recognition", "人脸识别"),
    ("autonomous driving", "自动驾驶"),
    ("medical imaging", "医学影像"),
    ("protein folding", "蛋白质折叠"),
    ("weather forecasting", "天气预报"),
    ("style transfer", "风格迁移"),
    ("domain adaptation", "领域自适应"),
    ("continual learning", "持续学习"),
    ("active learning", "主动学习"),
    ("label noise", "标签噪声"),
    ("batch size", "批量大小"),
    ("learning rate", "学习率"),
    ("computational cost", "计算成本"),
    ("memory footprint", "内存占用"),
    ("positional encoding", "位置编码"),
    ("vision transformer", "视觉变换器"),
    ("Fourier transform", "傅里叶变换"),
    ("hyperparameter", "超参数"),
    ("ensemble", "集成"),
    ("curriculum learning", "课程学习"),
    ("reward model", "奖励模型"),
    ("policy gradient", "策略梯度"),
    ("world model", "世界模型"),
    ("energy-based model", "能量模型"),
    ("normalizing flow", "标准化流"),
    ("spiking neural network", "脉冲神经网络"),
    ("tree search", "树搜索"),
)
_WEIGHTS = tuple(1.0 / (rank + 2) ** 0.8 for rank in range(len(TERMS)))

ADJECTIVES_EN = (
    "Efficient",
    "Scalable",
    "Robust",
    "Simple",
    "Faster",
    "Lightweight",
    "Unified",
    "Sparse",
    "Adaptive",
    "Hierarchical",
    "Differentiable",
    "Implicit",
    "Practical",
)
ADJECTIVES_ZH = ("高效的", "可扩展的", "鲁棒的", "简单的", "更快的", "轻量的", "统一的", "自适应的")
NAME_HEADS = (
    "Grad",
    "Vi",
    "Swin",
    "Flow",
    "Dino",
    "Mo",
    "Sim",
    "Conv",
    "Res",
    "Deep",
    "Meta",
    "Long",
    "Hyper",
    "Omni",
    "Tiny",
    "Mega",
    "Point",
    "Wave",
    "Prune",
    "Quant",
)
NAME_TAILS = (
    "Former",
    "Net",
    "Mix",
    "Aug",
    "GAN",
    "BERT",
    "CLR",
    "Diff",
    "Seg",
    "Det",
    "Fusion",
    "Bench",
    "Distill",
    "Prompt",
    "Coder",
    "Flow",
)
DATASETS = (
    "ImageNet",
    "COCO",
    "CIFAR-10",
    "GLUE",
    "SQuAD",
    "LibriSpeech",
    "KITTI",
    "MVTec AD",
    "WMT",
    "ADE20K",
    "Cityscapes",
    "OpenWebText",
    "LAION",
    "MMLU",
)
ORGS_EN = ("Google", "DeepMind", "OpenAI", "Meta", "NVIDIA", "Hugging Face", "Baidu", "Tencent")
ORGS_ZH = ("谷歌", "DeepMind", "OpenAI", "Meta", "英伟达", "Hugging Face", "百度", "腾讯")
SITES = (
    "example.org",
    "blog.example.com",
    "news.example.net",
    "techreview.example.org",
    "ai.example.dev",
    "research.example.com",
)

EN_SENTENCES = (
    "They propose {M}, a {adj} {t1} method that improves {t2} on {D}.",
    "The key idea is to combine {t1} with {t2} so that {t3} becomes cheaper at inference time.",
    "Experiments on {D} show that {M} outperforms earlier {t1} baselines by {n}% "
    "while using {k}x fewer parameters.",
    "Unlike prior work on {t1}, the method does not rely on {t2}; "
    "it learns {t3} directly from data.",
    "This article walks through {t1} and {t2} with short code examples and plots.",
    "{O} released {M}, which applies {t1} to {t2} in a production setting.",
    "A survey that organizes recent papers on {t1} by {t2} and {t3}.",
    "The ablation suggests that most of the gain comes from {t1} rather than {t2}.",
    "They also report that {t1} makes {t2} more stable when the {t3} is large.",
    "The authors argue that {t1} is underrated and show a {n}% gain on {D}.",
)
ZH_SENTENCES = (
    "他们提出了 {M}，一种基于{t1}的{adj}{t2}方法，并在 {D} 上验证了效果。",
    "核心思想是把{t1}和{t2}结合起来，从而在推理时降低{t3}的开销。",
    "在 {D} 上的实验表明，{M} 比以往的{t1}方法高出 {n}%，同时参数量减少了 {k} 倍。",
    "与以往关于{t1}的研究不同，该方法不依赖{t2}，而是直接从数据中学习{t3}。",
    "这篇文章用简短的代码示例和图表介绍了{t1}与{t2}。",
    "{O}发布了 {M}，将{t1}用于实际生产环境中的{t2}。",
    "这是一篇关于{t1}的综述，按照{t2}和{t3}整理了近期的论文。",
    "消融实验显示，大部分提升来自{t1}而不是{t2}。",
    "他们还发现，当{t3}较大时，{t1}可以让{t2}更加稳定。",
    "作者认为{t1}被低估了，并在 {D} 上取得了 {n}% 的提升。",
)
EN_HEADLINES = (
    "{Adj} {t1} with {t2}",
    "Improving {t1} through {t2}",
    "{M} brings {t1} to {t2}",
    "A survey of {t1}",
    "Faster {t1} via {t2}",
    "Why {t1} helps {t2}",
    "{t1} without {t2}",
)
ZH_HEADLINES = (
    "使用{t1}改进{t2}",
    "不需要{t2}的{t1}",
    "{M} 把{t1}带到{t2}",
    "关于{t1}的综述",
    "通过{t1}实现更快的{t2}",
    "为什么{t1}有助于{t2}",
    "{adj}{t1}",
)
EN_TITLES = (
    "{M}: {Adj} {t1} for {t2}",
    "On the Role of {t1} in {t2}",
    "{Adj} {t1} Is All You Need for {t2}",
    "Rethinking {t1} for {t2}",
)
ZH_TITLES = ("{M}：面向{t2}的{adj}{t1}", "重新思考{t2}中的{t1}", "{t1}在{t2}中的作用")
CARD_DESCRIPTIONS_EN = ("A practical guide with examples", "Notes from a recent talk", "Read more")
CARD_DESCRIPTIONS_ZH = ("附带示例的实践指南", "一次报告的笔记", "阅读全文")

SECTION_HEADINGS: dict[Lang, tuple[str, str, str, str]] = {
    "en": (
        "1. Machine Learning Papers",
        "2. Technical Articles",
        "3. Examples of Machine Learning use cases",
        "4. Other Topics",
    ),
    "zh": ("1.机器学习论文", "2.技术文章", "3.机器学习用例的例子", "4.其他主题"),
}
SECTIONS: tuple[Section, ...] = ("papers", "articles", "use_cases", "other")
SECTION_SHARE = (0.5, 0.25, 0.15, 0.10)
SEPARATOR = "— — — — — — — — — — — — — — — — — — — — — — — — — — — — — —"

# Queries for the search benchmark (all occur in generated text at very different rates).
QUERIES_EN = tuple(en for en, _ in TERMS if " " not in en and len(en) >= 3)
QUERIES_EN_TWO_WORDS = tuple(en for en, _ in TERMS if en.count(" ") == 1)
QUERIES_ZH_LONG = tuple(zh for _, zh in TERMS if 3 <= len(zh) <= 4)
QUERIES_CJK_SHORT = (
    "剪枝",
    "小波",
    "模型",
    "量化",
    "蒸馏",
    "生成",
    "变换",
    "注意",
    "卷积",
    "梯度",
    "检索",
    "图像",
    "网络",
    "点云",
    "隐私",
    "因果",
    "微调",
    "推理",
    "分割",
    "语音",
    "翻译",
    "稀疏",
    "图",
    "波",
    "树",
    "核",
    "流",
    "云",
    "声",
)


# ---------------------------------------------------------------- model
Style = Literal["italic", "italic_inline", "plain_title", "card"]
PAPER_STYLES: tuple[Style, ...] = ("italic", "italic_inline", "plain_title")


@dataclass(frozen=True, slots=True)
class SynthItem:
    section: Section
    headline: str
    title: str | None
    url: str  # the href written in the digest (may be a relative Medium path)
    summary: str
    images: tuple[str, ...]
    style: Style
    pick: bool = False


@dataclass(frozen=True, slots=True)
class SynthIssue:
    year: int
    week: int
    lang: Lang
    source: str  # the Medium URL of the post, with its tracking query
    items: tuple[SynthItem, ...]
    neighbours: tuple[str, ...]  # relative Medium paths of the previous/next issues

    @property
    def key(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def name(self) -> str:
        return f"{self.key}.md"

    @property
    def title(self) -> str:
        if self.lang == "zh":
            return f"{self.year} 年第 {self.week} 周"
        return f"Akira's ML news #Week {self.week}, {self.year}"

    def render(self) -> str:
        return _render(self)

    def to_parsed(self) -> ParsedIssue:
        """The ParsedIssue ``parse_digest(self.render())`` gives (warnings aside)."""
        items = []
        for position, it in enumerate(self.items, start=1):
            url = resolve_link(it.url)
            items.append(
                ParsedItem(
                    position=position,
                    section=it.section,
                    headline=it.headline,
                    title=it.title,
                    url=url,
                    paper=paper_identity(url) if url else None,
                    summary=it.summary,
                    images=it.images,
                    pick=it.pick,
                )
            )
        start = date.fromisocalendar(self.year, self.week, 1)
        own = resolve_link(self.source)
        return ParsedIssue(
            key=self.key,
            kind="weekly",
            year=self.year,
            week=self.week,
            month=None,
            title=self.title,
            url=own,
            start=start,
            end=start + timedelta(days=6),
            items=tuple(items),
            picks=tuple(i.paper for i in items if i.pick and i.paper),
            neighbours=tuple(u for n in self.neighbours if (u := resolve_link(n)) is not None),
        )


# ---------------------------------------------------------------- drawing
def _terms(rng: random.Random, lang: Lang, k: int) -> list[str]:
    picked = rng.choices(TERMS, weights=_WEIGHTS, k=k)
    return [en if lang == "en" else zh for en, zh in picked]


def _name(rng: random.Random) -> str:
    return rng.choice(NAME_HEADS) + rng.choice(NAME_TAILS)


def _fill(rng: random.Random, lang: Lang, template: str, topic: Sequence[str] | None = None) -> str:
    """Fill a template; terms come mostly from the item's ``topic`` (like a real summary)."""
    fresh = _terms(rng, lang, 3)
    slots: list[str] = []
    for n in range(3):
        unused = [t for t in topic or () if t not in slots]
        sticky = unused and rng.random() < TOPIC_STICKINESS
        slots.append(rng.choice(unused) if sticky else fresh[n])
    t1, t2, t3 = slots
    adjectives = ADJECTIVES_EN if lang == "en" else ADJECTIVES_ZH
    adj = rng.choice(adjectives)
    text = template.format(
        M=_name(rng),
        t1=t1,
        t2=t2,
        t3=t3,
        adj=adj.lower() if lang == "en" else adj,
        Adj=adj,
        D=rng.choice(DATASETS),
        O=rng.choice(ORGS_EN if lang == "en" else ORGS_ZH),
        n=rng.randint(1, 40),
        k=rng.randint(2, 16),
    )
    return text[:1].upper() + text[1:] if lang == "en" else text


def _summary(rng: random.Random, lang: Lang, topic: Sequence[str]) -> str:
    target = rng.randint(MIN_SUMMARY, MAX_SUMMARY)
    templates = EN_SENTENCES if lang == "en" else ZH_SENTENCES
    joiner = " " if lang == "en" else ""
    sentences: list[str] = []
    length = 0
    while length < target:
        sentence = _fill(rng, lang, rng.choice(templates), topic)
        if sentences and length + len(sentence) + len(joiner) > MAX_SUMMARY:
            if length >= MIN_SUMMARY:
                break
            sentence = sentence[: MAX_SUMMARY - length - len(joiner)].rstrip()
        sentences.append(sentence)
        length += len(sentence) + (len(joiner) if len(sentences) > 1 else 0)
    return joiner.join(sentences)


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _arxiv_url(rng: random.Random, year: int, week: int) -> str:
    month = min(12, max(1, (week * 12) // 52 + rng.choice((-1, 0, 0))))
    return f"https://arxiv.org/abs/{year % 100:02d}{month:02d}.{rng.randint(1, 99999):05d}"


def _article_url(rng: random.Random, headline_words: Sequence[str]) -> str:
    slug = "-".join(w.lower() for w in headline_words if w.isascii() and w.isalnum())[:60]
    slug = f"{slug or 'post'}-{_hex(rng, 8)}"
    if rng.random() < 0.15:
        return f"/towards-ml/{slug}"  # a relative Medium link, as Medium exports them
    return f"https://{rng.choice(SITES)}/{rng.choice(('blog', 'news', 'posts'))}/{slug}"


def _item(rng: random.Random, lang: Lang, section: Section, year: int, week: int) -> SynthItem:
    topic = list(dict.fromkeys(_terms(rng, lang, TOPIC_TERMS)))
    headline = _fill(rng, lang, rng.choice(EN_HEADLINES if lang == "en" else ZH_HEADLINES), topic)
    summary = _summary(rng, lang, topic)
    images = tuple(f"img/{_hex(rng, 32)}.png" for _ in range(rng.choice((0, 1, 1, 1, 2))))
    if section == "papers":
        title_templates = EN_TITLES if lang == "en" or rng.random() < 0.5 else ZH_TITLES
        title_lang: Lang = "en" if title_templates is EN_TITLES else "zh"
        title_topic = topic if title_lang == lang else None
        title = _fill(rng, title_lang, rng.choice(title_templates), title_topic)
        style = rng.choices(PAPER_STYLES, (6, 2, 2))[0]
        return SynthItem(
            section, headline, title, _arxiv_url(rng, year, week), summary, images, style
        )
    card_title = _fill(rng, lang, rng.choice(EN_HEADLINES if lang == "en" else ZH_HEADLINES), topic)
    url = _article_url(rng, card_title.split())
    return SynthItem(section, headline, card_title, url, summary, images, "card")


def make_issue(
    rng: random.Random,
    year: int,
    week: int,
    *,
    lang: Lang | None = None,
    n_items: int | None = None,
) -> SynthIssue:
    """One weekly issue; ``lang`` and ``n_items`` are drawn when not given."""
    langs: tuple[Lang, ...] = ("en", "zh")
    chosen: Lang = lang if lang is not None else rng.choice(langs)
    n = n_items if n_items is not None else rng.randint(MIN_ITEMS, MAX_ITEMS)
    sections = sorted(rng.choices(SECTIONS, weights=SECTION_SHARE, k=n), key=SECTIONS.index)
    items = [_item(rng, chosen, section, year, week) for section in sections]
    seen: set[str] = set()
    for idx, it in enumerate(items):  # the parser warns about repeated papers; keep them unique
        while it.url in seen:
            it = SynthItem(
                it.section,
                it.headline,
                it.title,
                _arxiv_url(rng, year, week),
                it.summary,
                it.images,
                it.style,
            )
        seen.add(it.url)
        items[idx] = it
    for idx in rng.sample(range(n), k=min(3, n)):
        it = items[idx]
        items[idx] = SynthItem(
            it.section, it.headline, it.title, it.url, it.summary, it.images, it.style, True
        )
    slug = f"akiras-ml-news-week-{week}-{year}-{_hex(rng, 12)}"
    source = f"https://medium.com/analytics-vidhya/{slug}?source=collection_archive---------23"
    neighbours = tuple(
        f"/analytics-vidhya/akiras-ml-news-week-{w}-{year}-{_hex(rng, 12)}"
        for w in (week - 1, week + 1)
        if 1 <= w <= WEEKS_PER_YEAR
    )
    return SynthIssue(year, week, chosen, source, tuple(items), neighbours)


def weeks(count: int, start_year: int = 2020) -> Iterator[tuple[int, int]]:
    """``count`` consecutive (year, week) pairs, weeks 1..52 of each year."""
    for n in range(count):
        yield start_year + n // WEEKS_PER_YEAR, n % WEEKS_PER_YEAR + 1


def make_issues(
    count: int, *, seed: int = DEFAULT_SEED, start_year: int = 2020
) -> Iterator[SynthIssue]:
    rng = random.Random(seed)
    for year, week in weeks(count, start_year):
        yield make_issue(rng, year, week)


def make_digests(count: int, *, seed: int = DEFAULT_SEED) -> list[tuple[str, str]]:
    """``count`` weekly digests as (file name, Markdown text)."""
    return [(issue.name, issue.render()) for issue in make_issues(count, seed=seed)]


# ---------------------------------------------------------------- rendering
def _render_item(it: SynthItem, lang: Lang, out: list[str]) -> None:
    out += [f"# {it.headline}", ""]
    images = [f"![]({src})" for src in it.images]
    link = f"[{it.url}]({it.url})"
    if it.style == "card":
        out += [it.summary, ""]
        out += images[:1] + ([""] if images else [])
        describe = CARD_DESCRIPTIONS_EN if lang == "en" else CARD_DESCRIPTIONS_ZH
        host = resolve_link(it.url) or it.url
        host = host.split("/")[2]
        out += [
            f"[]({it.url}) [## {it.title}",
            "",
            f"### {describe[len(it.headline) % len(describe)]}…",
            "",
            f"{host}]({it.url}) ",
            "",
        ]
        out += images[1:] + ([""] if images[1:] else [])
        return
    if it.style == "plain_title":
        out += [it.title or "", link]
    elif it.style == "italic_inline":
        out += [f"*{it.title}* {link}"]
    else:
        out += [f"*{it.title}*", link]
    out += ["", it.summary, ""]
    if images:
        out += ["".join(images), ""]


def _render(issue: SynthIssue) -> str:
    zh = issue.lang == "zh"
    out: list[str] = [f"# {issue.title}", ""]
    out += [f"> {'原文：' if zh else 'Source: '}<{issue.source}>", ""]
    if zh:
        out += [f"以下是 {issue.year} 年第 {issue.week} 周我读到并觉得有意思的论文和文章。", ""]
        out += ["# 主题", ""]
    else:
        out += [
            f"A selection of papers and articles from week {issue.week} of {issue.year} "
            "that caught my attention.",
            "",
            "# Topics",
            "",
        ]
    headings = SECTION_HEADINGS[issue.lang]
    out += [f"{n}.  {h.split('.', 1)[1].strip()}" for n, h in enumerate(headings, 1)] + [""]
    out += ["# —每周编辑精选" if zh else "# — Weekly Editor's pickup", ""]
    out += [f"*   [{it.headline}]({it.url})" for it in issue.items if it.pick] + [""]
    out += ["# —过去的文章" if zh else "# — Past Articles", ""]
    nav = []
    for path in issue.neighbours:
        week = path.split("week-", 1)[1].split("-", 1)[0]
        nav.append(f"[第 {week} 周]({path})" if zh else f"[Week {week}]({path})")
    out += [" ⇦ ".join(nav), "", SEPARATOR, ""]
    for section, heading in zip(SECTIONS, headings, strict=True):
        out += [f"# {heading}", "", "— —", ""]
        for it in issue.items:
            if it.section == section:
                _render_item(it, issue.lang, out)
        out += [SEPARATOR, ""]
    out += [
        "我的 github 上有许多论文的摘要。" if zh else "Summaries of many papers on my github.",
        "",
        "[](https://github.com/example/ml-papers) [## example/ml-papers",
        "",
        "github.com](https://github.com/example/ml-papers)",
        "",
    ]
    return "\n".join(out)


# ---------------------------------------------------------------- self-check
def self_check(issue: SynthIssue) -> ParsedIssue:
    """Parse the rendered issue and assert it equals ``to_parsed()`` (warnings aside)."""
    parsed = parse_digest(issue.render(), source=issue.name)
    expected = issue.to_parsed()
    assert len(parsed.items) == len(issue.items), (issue.key, len(parsed.items), len(issue.items))
    for got, want in zip(parsed.items, expected.items, strict=True):
        assert got == want, (issue.key, got, want)
    assert parsed.picks == expected.picks, (parsed.picks, expected.picks)
    assert (parsed.key, parsed.title, parsed.url, parsed.start, parsed.end) == (
        expected.key,
        expected.title,
        expected.url,
        expected.start,
        expected.end,
    ), (parsed.key, parsed.title, parsed.url)
    assert parsed.neighbours == expected.neighbours, (parsed.neighbours, expected.neighbours)
    assert not parsed.warnings, parsed.warnings
    return parsed


if __name__ == "__main__":
    checked = [self_check(i) for i in make_issues(60)]
    print(f"{len(checked)} synthetic digests parse; {sum(len(p.items) for p in checked)} items")
