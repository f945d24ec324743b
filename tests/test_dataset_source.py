"""Checks data/diaozhuang-2025.yaml against the office's mid-year report.

Every figure in the dataset must come from the report: sources are verbatim
substrings, values appear inside their source sentence, and a hand-written
table of spot checks (read off the report by a person) must match.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve()
DATASET = HERE.parents[1] / "data" / "diaozhuang-2025.yaml"
# The office's own public report, kept in the repository so the check runs in any clone.
REPORT = HERE.parents[1] / "data" / "source" / "diaozhuang-2025-midyear-report.txt"
# Where the project's shared folder sits next to the repo, its copy must be the same file.
SHARED_REPORT = HERE.parents[2] / "shared" / "source" / "diaozhuang-2025-midyear-report.txt"

INDICATOR_CATEGORIES = {"经济运行", "招商引资", "科技人才", "城市建设", "民生保障", "社会治理", "党的建设"}
TASK_CATEGORIES = {"重点项目", "招商引资", "下半年目标", "民生实事", "生态环境", "城市建设", "社会治理", "党的建设", "科技创新",
                   "问题清单"}
QUALIFIERS = {"预计", "约", "超", "近", "余", "以上"}
YEAR_END = dt.date(2025, 12, 31)


@pytest.fixture(scope="module")
def data() -> dict:
    with DATASET.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def report() -> str:
    return REPORT.read_text(encoding="utf-8")


def test_report_copy_in_repo_matches_shared_source():
    assert REPORT.is_file(), f"report missing at {REPORT}"
    if SHARED_REPORT.is_file():
        assert REPORT.read_bytes() == SHARED_REPORT.read_bytes(), "data/source copy differs from shared/source"


def fmt(num) -> str:
    """Format a number the way the report writes it: 3.5, 135.7, 124 (no .0)."""
    num = abs(num)
    if isinstance(num, float) and num.is_integer():
        num = int(num)
    return str(num)


def number_in(text: str, num) -> bool:
    """True if `num` occurs in `text` as a whole number (not inside 135.7 or 2500)."""
    pattern = r"(?<![\d.])" + re.escape(fmt(num)) + r"(?!\d|\.\d)"
    return re.search(pattern, text) is not None


def by_name(items: list[dict]) -> dict[str, dict]:
    return {item["name"]: item for item in items}


# --------------------------------------------------------------------------- structure

def test_header(data):
    assert data["version"] == 1
    assert data["office"] == "雕庄街道"
    assert data["source"] == "diaozhuang-2025-midyear-report.txt"
    assert isinstance(data["report_date"], dt.date)


def test_teams(data):
    codes = [t["code"] for t in data["teams"]]
    assert codes == [f"zs{i}" for i in range(1, 10)] + [f"xm{i}" for i in range(1, 7)]
    assert all(t["kind"] == "招商专班" for t in data["teams"][:9])
    assert all(t["kind"] == "项目专班" for t in data["teams"][9:])
    assert len({t["name"] for t in data["teams"]}) == 15


def test_keys_unique_and_snake_case(data):
    for section in ("indicators", "tasks"):
        keys = [item["key"] for item in data[section]]
        assert len(keys) == len(set(keys)), f"duplicate keys in {section}"
        for key in keys:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", key), key
    # an indicator and a task should not share a key either
    assert not {i["key"] for i in data["indicators"]} & {t["key"] for t in data["tasks"]}


def test_names_and_aliases_unambiguous(data):
    for section in ("indicators", "tasks"):
        seen: dict[str, str] = {}
        for item in data[section]:
            for label in [item["name"], *item.get("aliases", [])]:
                assert isinstance(label, str) and label, (item["key"], label)
                assert label not in seen, f"{label!r} used by {seen.get(label)} and {item['key']}"
                seen[label] = item["key"]


def test_enough_indicators(data):
    assert len(data["indicators"]) >= 40


def test_indicator_fields(data):
    for ind in data["indicators"]:
        assert ind["category"] in INDICATOR_CATEGORIES, ind["key"]
        assert ind["unit"], ind["key"]
        assert isinstance(ind["period_start"], dt.date) and isinstance(ind["period_end"], dt.date)
        assert ind["period_start"] <= ind["period_end"], ind["key"]
        assert ind["value"] is not None or ind.get("yoy_pct") is not None, ind["key"]
        if ind.get("qualifier") is not None:
            assert ind["qualifier"] in QUALIFIERS, ind["key"]
        if ind.get("target") is not None:
            assert ind.get("target_text") and ind.get("target_source"), ind["key"]


def test_task_fields(data):
    team_codes = {t["code"] for t in data["teams"]}
    for task in data["tasks"]:
        assert task["category"] in TASK_CATEGORIES, task["key"]
        assert task["status"] in {"active", "done"}, task["key"]
        assert isinstance(task["start"], dt.date), task["key"]
        if task.get("deadline") is not None:
            assert isinstance(task["deadline"], dt.date) and task["deadline"] >= task["start"], task["key"]
        if task.get("team") is not None:
            assert task["team"] in team_codes, task["key"]
        if task.get("target_value") is not None:
            assert task.get("target_unit") and task.get("target_text"), task["key"]
        for ms in task.get("milestones") or []:
            assert ms["name"]
            assert ms.get("due") is None or isinstance(ms["due"], dt.date)


# --------------------------------------------------------------------------- provenance

def test_every_source_is_verbatim(data, report):
    for section in ("indicators", "tasks"):
        for item in data[section]:
            assert item["source"] in report, f"{section}/{item['key']}: source not in report: {item['source']!r}"
    for ind in data["indicators"]:
        if ind.get("target_source"):
            assert ind["target_source"] in report, ind["key"]


def test_indicator_numbers_appear_in_source(data):
    for ind in data["indicators"]:
        src = ind["source"]
        if ind["value"] is not None:
            assert number_in(src, ind["value"]), f"{ind['key']}: {fmt(ind['value'])} not in {src!r}"
        if ind.get("yoy_pct") is not None:
            assert number_in(src, ind["yoy_pct"]), f"{ind['key']}: yoy {ind['yoy_pct']} not in {src!r}"
        if ind.get("qualifier"):
            assert ind["qualifier"] in src, f"{ind['key']}: qualifier {ind['qualifier']} not in {src!r}"
        if ind.get("target") is not None:
            assert number_in(ind["target_source"], ind["target"]), ind["key"]


def test_qualifier_kept_wherever_the_report_writes_one(data):
    """超N / 近N / 约N / N余 / N%以上 next to the figure, or 预计 before it: the value keeps it."""
    for ind in data["indicators"]:
        if ind["value"] is None:
            continue
        src, num = ind["source"], fmt(ind["value"])
        for m in re.finditer(r"(?<![\d.])" + re.escape(num) + r"(?!\d|\.\d)", src):
            after = src[m.end():]
            if not after.startswith(ind["unit"]) and not after.startswith("余"):
                continue  # the same number with another unit (e.g. 7个 vs 7亿元)
            before = src[m.start() - 1] if m.start() else ""
            expected = None
            if before in ("超", "近", "约"):
                expected = before
            elif after.startswith("余"):
                expected = "余"
            elif after.startswith(ind["unit"] + "以上"):
                expected = "以上"
            elif "预计" in src[:m.start()]:
                expected = "预计"
            assert ind.get("qualifier") == expected, f"{ind['key']}: {src!r} -> qualifier {expected}"


def test_yoy_only_where_the_report_says_so(data):
    """同比 is shown for yoy_pct: only a sentence that says 同比 or 较同期 may give one."""
    for ind in data["indicators"]:
        if ind.get("yoy_pct") is not None:
            assert "同比" in ind["source"] or "较同期" in ind["source"], ind["key"]


def test_negative_change_only_where_report_says_decline(data):
    for ind in data["indicators"]:
        if ind.get("yoy_pct") is not None and ind["yoy_pct"] < 0:
            assert "下降" in ind["source"] or "减少" in ind["source"], ind["key"]


def test_task_target_numbers_appear_in_source(data):
    for task in data["tasks"]:
        if task.get("target_value") is not None:
            assert number_in(task["source"], task["target_value"]), task["key"]


def test_no_progress_without_stated_percentage(data):
    for task in data["tasks"]:
        if task.get("progress") is not None:
            assert "%" in task["source"] and number_in(task["source"], task["progress"]), task["key"]


# --------------------------------------------------------------------------- spot checks
# Read off the report by hand: (name, value, unit, yoy_pct, qualifier).
SPOT_CHECKS = [
    ("一般公共预算收入", 3.5, "亿元", 18, "预计"),
    ("规上工业总产值", 135.7, "亿元", 8.4, None),
    ("进出口总额", 10.2, "亿元", 9, None),
    ("限上社会消费品零售总额", 7.2, "亿元", 0.1, None),
    ("市、区重点项目固定资产投资", 7, "亿元", None, None),
    ("接待项目", 38, "次", 2.3, None),
    ("拜访项目", 16, "次", None, None),
    ("已签约项目", 8, "个", None, None),
    ("在谈项目", 21, "个", None, None),
    ("重点推进项目", 9, "个", None, None),
    ("招商项目投资额", 7, "亿元", 10, "约"),
    ("HW人才计划申报", 19, "人", None, None),
    ("释放可用土地", 318.2, "亩", None, "约"),
    ("非住宅签约建筑面积", 1.23, "万平方米", None, None),
    ("办结各类城市问题", 1.5, "万起", None, "近"),
    ("城市问题办结率", 95, "%", None, "以上"),
    ("调处矛盾纠纷", 124, "件", None, None),
    ("矛盾纠纷调处成功率", 99.2, "%", None, None),
    ("网格排查化解矛盾纠纷", 828, "条", None, None),
    ("巡查执法", 1600, "家次", None, "超"),
    ("市级公益创投项目", 4, "个", None, None),
    ("公益创投扶持资金", 14, "万元", None, None),
    ("党建项目", 18, "个", None, None),
    ("下属党组织学习活动覆盖党员", 2500, "人次", None, "超"),
]


@pytest.mark.parametrize("name,value,unit,yoy,qualifier", SPOT_CHECKS, ids=[c[0] for c in SPOT_CHECKS])
def test_spot_checks(data, name, value, unit, yoy, qualifier):
    ind = by_name(data["indicators"]).get(name)
    assert ind is not None, f"indicator {name} missing"
    assert ind["value"] == pytest.approx(value)
    assert ind["unit"] == unit
    assert ind.get("yoy_pct") == (pytest.approx(yoy) if yoy is not None else None)
    assert ind.get("qualifier") == qualifier


def test_building_changes_are_stored_as_changes_not_yoy(data):
    # "其中楼宇招商项目增长10%,闲置率下降10%": no level and no 同比 in the report.
    inds = by_name(data["indicators"])
    for name in ("楼宇招商项目增长", "楼宇闲置率下降"):
        ind = inds[name]
        assert (ind["value"], ind["unit"], ind.get("yoy_pct")) == (10, "%", None), name
        assert ind["source"] == "其中楼宇招商项目增长10%,闲置率下降10%"
    assert "楼宇闲置率" in inds["楼宇闲置率下降"]["aliases"]
    assert "楼宇招商项目" in inds["楼宇招商项目增长"]["aliases"]


def test_fixed_asset_investment_is_the_key_projects_not_the_street_total(data):
    ind = {i["key"]: i for i in data["indicators"]}["fixed_asset_investment"]
    assert ind["name"] == "市、区重点项目固定资产投资"
    assert "固投" in ind["aliases"] and "固定资产投资" in ind["aliases"]
    assert ind["period"] == "截至6月累计;报告未给全街道总额"
    assert ind["source"] == ("祺胜新材料、常州制药厂多肽药物等2个市重点储备项目,"
                             "昱智尔等7个区重点项目全力加速落地,累计完成固定资产投资7亿元")


def test_carrier_areas_are_second_half_forecasts(data):
    inds = by_name(data["indicators"])
    for name, value in (("新建载体", 1.8), ("盘活载体", 2.1)):
        ind = inds[name]
        assert ind["value"] == value and ind["qualifier"] == "预计"
        assert ind["period"] == "下半年预计,非上半年实绩"
        assert (ind["period_start"], ind["period_end"]) == (dt.date(2025, 7, 1), YEAR_END)
        assert ind["source"] == ("启动生命科技园改造升级,引入柠檬星运营项目,实现专业化运营,"
                                 "预计新建载体1.8万平方米,盘活载体2.1万平方米")


def test_land_parcels_are_in_progress_not_cleared(data):
    ind = {i["key"]: i for i in data["indicators"]}["land_parcels_clearance"]
    assert ind["name"] == "全力推进清结的地块" and ind["value"] == 8
    assert "推进中" in ind["period"]
    task = {t["key"]: t for t in data["tasks"]}["land_parcels_8"]
    assert task["status"] == "active" and task["progress"] is None


def test_no_target_across_different_measures(data):
    inds = by_name(data["indicators"])
    # 预计申报高企18家 vs 新增高企40家; HW申报19人 vs HW人才项目40个: not the same measure/unit.
    assert inds["申报高新技术企业"].get("target") is None
    assert inds["HW人才计划申报"].get("target") is None


# --------------------------------------------------------------------------- tasks

KEY_PROJECTS = [
    "纳图电气", "祺胜新材料", "常州制药厂多肽药物", "昱智尔",
    "希尔顿综合商业中心(中欧国际商务交流中心)", "中匈国际科创园区", "中德电力装备产业园",
    "生命科技园改造升级", "抗肿瘤药物生产车间", "猫疫苗项目", "柠檬星运营项目",
    "雕庄浜河道整治", "凤凰浜河道整治", "前浪浜河道整治", "柏树坟排涝站河河道整治",
    "雕庄浜创建区级“幸福河湖”", "27家工业控制区单位雨污管网改造",
    "中村地块清结", "钢材市场(二期)地块清结",
    "大货车违章乱停专项整治行动", "古今文创博物馆", "大型司法所", "纺织服装行业公共安全体验馆",
    "村(社区)“两委”换届", "14件民生实事", "惠企优才直播间", "社区食堂", "暖心居保",
]


@pytest.mark.parametrize("name", KEY_PROJECTS)
def test_named_items_present(data, name):
    assert name in by_name(data["tasks"])


def test_secretary_lecture_alias(data):
    aliases = {a for t in data["tasks"] for a in t.get("aliases", [])}
    assert "书记大讲堂" in aliases


# (task name, target_value, target_unit) for the annual targets in the second-half plan.
SECOND_HALF_TARGETS = [
    ("新增“四上”企业30家", 30, "家"),
    ("新增高新技术企业40家", 40, "家"),
    ("新增省级以上专精特新企业5家", 5, "家"),
    ("外资突破2000万美元", 2000, "万美元"),
    ("新签约引进省级重点项目1个以上", 1, "个"),
    ("新签约引进市级重点项目2个以上", 2, "个"),
    ("引进“龙城英才”项目4个", 4, "个"),
    ("申报HW人才项目40个", 40, "个"),
    ("累计引进各类人才1万人左右", 1, "万人"),
    ("生活垃圾无害化处理动态保持100%", 100, "%"),
    ("建筑垃圾资源化处置率达75%以上", 75, "%"),
    ("中德电力装备产业园", 10, "亿元"),
    ("14件民生实事", 14, "件"),
]


@pytest.mark.parametrize("name,value,unit", SECOND_HALF_TARGETS, ids=[t[0] for t in SECOND_HALF_TARGETS])
def test_second_half_targets(data, name, value, unit):
    task = by_name(data["tasks"]).get(name)
    assert task is not None, f"task {name} missing"
    assert task["deadline"] == YEAR_END
    assert task["target_value"] == pytest.approx(value)
    assert task["target_unit"] == unit
    assert task["status"] == "active"


def test_all_second_half_category_tasks_due_year_end(data):
    planned = [t for t in data["tasks"] if t["category"] == "下半年目标"]
    assert len(planned) >= 12
    for task in planned:
        assert task["deadline"] == YEAR_END, task["key"]
        assert "力争全年" in task["source"] or "实现" in task["source"] or "累计" in task["source"] or "再创佳绩" in task["source"], task["key"]


def test_rivers_are_one_task_each_and_still_active(data):
    rivers = [t for t in data["tasks"] if t.get("subcategory") == "河道整治"]
    assert sorted(t["aliases"][0] for t in rivers) == sorted(["雕庄浜", "凤凰浜", "前浪浜", "柏树坟排涝站河"])
    for t in rivers:
        assert t["status"] == "active" and t["deadline"] == YEAR_END


def test_livelihood_items_only_those_named(data):
    items = {t["name"] for t in data["tasks"] if t["category"] == "民生实事"}
    assert items == {"14件民生实事", "惠企优才直播间", "社区食堂", "暖心居保"}


def test_key_projects_spread_over_project_teams(data):
    teams = {t["team"] for t in data["tasks"] if t["category"] == "重点项目"}
    assert teams == {f"xm{i}" for i in range(1, 7)}


# --------------------------------------------------------------------------- items added from issue 10
# (key, exact name, category, subcategory, source sentence)
ADDED_ITEMS = [
    ("rectification_13_measures", "13条整改措施落实", "党的建设", "整改",
     "聚焦“学查改”一体推进,查摆班子问题5个,形成整改措施13条"),
    ("highrise_fire_hazards", "高层住宅小区突出消防隐患问题整改", "社会治理", "安全生产",
     "深度推进高层住宅小区突出消防隐患问题整改"),
    ("issue_industrial_value_added", "工业增加值增速较慢", "问题清单", "经济发展",
     "工业发展的质效还有一定的提升空间,工业增加值相对产值增速较慢"),
    ("issue_project_investment", "项目投资稍显不足", "问题清单", "经济发展",
     "项目投资稍显不足,对发展的支撑度还有待加强"),
    ("issue_smart_governance_platform", "城市智慧治理平台融合深度待加强", "问题清单", "城市承载能级",
     "城市智慧治理平台的融合深度还可以进一步加强"),
    ("issue_consumption_potential", "消费潜力释放不足", "问题清单", "城市承载能级",
     "人口虹吸效应还不够明显,消费潜力释放还有不足"),
    ("idle_land_sharing", "闲置地块“封闭管理”向“共享惠民”转型", "城市建设", "环境整治",
     "推动闲置地块从“封闭管理”向“共享惠民”转型"),
    ("street_furniture_upgrade", "城市家具提优", "城市建设", "环境整治",
     "提优城市家具,按照设计导则规范美化"),
    ("welfare_venture_one_brand", "公益创投“一村社区一项目一品牌一特色”", "社会治理", "五社联动",
     "以公益创投项目为关键抓手,全面提高社区党组织资源链接能力和群众服务水平,"
     "深化“一村社区一项目一品牌一特色”项目运营格局"),
    ("district_key_projects_7", "7个区重点项目", "重点项目", "区重点项目",
     "昱智尔等7个区重点项目全力加速落地"),
]


@pytest.mark.parametrize("key,name,category,subcategory,source", ADDED_ITEMS, ids=[i[0] for i in ADDED_ITEMS])
def test_added_items(data, report, key, name, category, subcategory, source):
    task = {t["key"]: t for t in data["tasks"]}.get(key)
    assert task is not None, f"task {key} missing"
    assert (task["name"], task["category"], task.get("subcategory")) == (name, category, subcategory)
    assert task["source"] == source and source in report
    assert task["status"] == "active" and task["progress"] is None and task["deadline"] is None


def test_problem_list_is_the_reports_problems(data):
    assert {t["name"] for t in data["tasks"] if t["category"] == "问题清单"} == {
        "工业增加值增速较慢", "项目投资稍显不足", "城市智慧治理平台融合深度待加强", "消费潜力释放不足"}


def test_rectification_measures_counted_in_the_task(data):
    task = {t["key"]: t for t in data["tasks"]}["rectification_13_measures"]
    assert (task["target_value"], task["target_unit"]) == (13, "条")


def test_factory_and_highrise_fire_hazards_are_separate_tasks(data):
    tasks = {t["key"]: t for t in data["tasks"]}
    assert tasks["factory_in_factory"]["source"] == "持续开展“厂中厂”综合治理"
    assert "消防隐患整改" in tasks["highrise_fire_hazards"]["aliases"]
    assert "消防隐患整改" not in tasks["factory_in_factory"]["aliases"]


def test_district_key_projects_item(data):
    task = {t["key"]: t for t in data["tasks"]}["district_key_projects_7"]
    assert (task["target_value"], task["target_unit"], task["team"]) == (7, "个", "xm4")
