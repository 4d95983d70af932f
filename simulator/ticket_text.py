"""Ticket text for the synthetic world: intents rendered as English or Chinese customer messages.

Each intent has at least sixteen paraphrase templates per language whose wordings share the
intent's key words the way real customers' messages do (a held-out template is a new wording, not
a new vocabulary); a ticket with several intents joins one clause per intent with a connective
("Also,", "另外，"). Slots are filled with the order's own entities: order reference, money
amount (¥/元/RMB/yuan), waiting duration ("3 days", "三天", "72小时"), a date ("on 12 May",
"5月12日") and a product word for the order's category. Noise is added the way customers write: dropped or swapped characters, missing
punctuation, all caps, emoji, repeated "!!!", English words inside Chinese.

``template_id`` names the templates used (``intent.lang.k`` joined by ``|``) so evaluation can hold
whole templates out. Tickets with no intent (chit-chat, "转人工") render ``none.lang.k`` templates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orderlens.intents import INTENT_NAMES, LABEL_SEPARATOR, split_labels
from orderlens.vocab import CATEGORIES

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "where_is_my_order": {
        "en": (
            "Where is my order {order_ref}?",
            "Can you tell me when order {order_ref} will arrive?",
            "I have been waiting {duration} and still no sign of my {product}, where is it?",
            "Any update on the shipment of my {product}? Tracking has not moved.",
            "What is the status of {order_ref}? I ordered it {date}.",
            "When will my parcel be delivered? It's order {order_ref}.",
            "hi, could you check where my package is, the {product} I bought {date}",
            "Tracking says in transit for {duration}, where is it now?",
            "Is my {product} shipped yet? I ordered it {date} and see no delivery info.",
            "Need an ETA for order {order_ref}, when will it arrive?",
            "My {product} still hasn't arrived, can you check where it is?",
            "Where's my package? Order {order_ref}, ordered {date}.",
            "Could you track order {order_ref} for me? No delivery update yet.",
            "Has my {product} been shipped? I can't see any tracking info.",
            "The tracking for {order_ref} hasn't updated in {duration}, is my parcel lost?",
            "When is the delivery of my {product} expected?",
            "Still waiting for my order, where is the parcel now?",
            "please check the delivery status of my {product}, order {order_ref}",
        ),
        "zh": (
            "我的订单{order_ref}到哪里了？",
            "请问订单{order_ref}什么时候能到？",
            "等了{duration}了，我的{product}还没到。",
            "帮我查一下物流，{product}现在到哪了",
            "{date}买的{product}，怎么还没到？",
            "快递一直显示运输中，已经{duration}没更新了，到底在哪？",
            "订单{order_ref}的物流信息查不到，麻烦看下",
            "请问我的包裹什么时候能到？",
            "{product}发货了吗？物流单号是多少",
            "查询一下订单{order_ref}的物流，到哪了",
            "我的{product}到哪了？一直没收到",
            "订单{order_ref}还没收到，帮忙查下物流",
            "物流{duration}没动了，包裹是不是丢了？",
            "请问{product}大概什么时候送到？",
            "{date}下的单，现在物流到哪了",
            "快递到哪里了，怎么一直没有更新",
            "麻烦查一下订单{order_ref}现在的配送状态",
            "我的包裹还在路上吗？什么时候到",
        ),
    },
    "delay_complaint": {
        "en": (
            "My {product} is {duration} late, this is unacceptable.",
            "Order {order_ref} was supposed to arrive already, why the delay?",
            "Very disappointed, delivery is late again.",
            "You promised delivery {date} and it still hasn't come, so late. Terrible.",
            "This is the slowest shipping I have ever seen, {duration} late!",
            "Why is my {product} delayed? You missed the promised date.",
            "Late again. I paid for express and waited {duration}.",
            "The delivery is delayed and way behind schedule, really frustrating.",
            "Your courier keeps delaying my {product}, so annoying",
            "Delivery of {order_ref} is late by {duration}, not happy at all.",
            "It's been {duration} past the promised date, why so slow?",
            "The {product} is delayed again, this is really frustrating.",
            "So slow! My order is already {duration} overdue.",
            "Your delivery is always late, I am very disappointed.",
            "The promised delivery date passed {date} and the {product} is still late.",
            "Unacceptable delay on order {order_ref}, it should have arrived by now.",
            "way too late, waited {duration} longer than promised",
        ),
        "zh": (
            "我的{product}已经晚了{duration}，太不像话了。",
            "订单{order_ref}早就该到了，为什么延误？",
            "又延误了，非常失望。",
            "说好{date}送到的，到现在还没到，太慢了！",
            "超时{duration}了，太慢了，物流也太差了",
            "买了加急还晚了{duration}，什么服务啊",
            "{product}一直延误，承诺的时间早过了",
            "配送严重延误，对你们很不满意",
            "怎么这么慢？订单{order_ref}已经超过承诺时间了",
            "说好的时间早就过了，{product}还没送到，太慢了",
            "订单{order_ref}延迟了{duration}，非常不满",
            "物流太慢了，比承诺时间晚了{duration}",
            "怎么又延误了？{product}到现在还没到",
            "超过承诺时间{duration}了，你们怎么回事",
            "配送延迟这么久，太失望了",
            "{date}就该到的{product}，拖了这么久还没送，太慢了",
            "严重超时，晚了{duration}，我要投诉",
        ),
    },
    "damaged_item": {
        "en": (
            "The {product} arrived broken.",
            "The box was crushed and the {product} inside is damaged.",
            "Order {order_ref} came damaged.",
            "My {product} has a big crack, it was broken in shipping.",
            "The package was torn open and the {product} is scratched and damaged.",
            "Received the {product} {date} but it is smashed, totally broken.",
            "Item is broken on arrival, screen cracked.",
            "The parcel got wet and the {product} is ruined, completely damaged.",
            "Got my {product} today, it's dented and broken",
            "The {product} was damaged when it arrived, the box was crushed.",
            "My order {order_ref} arrived with a broken {product}.",
            "The {product} is cracked and scratched, it must have been damaged in transit.",
            "Opened the parcel and the {product} was smashed.",
            "Everything arrived damaged, the packaging was torn.",
            "The {product} doesn't work, it arrived broken and dented.",
            "Received a damaged {product}, please help.",
            "broken {product} in the box, the courier must have dropped it",
        ),
        "zh": (
            "收到的{product}是坏的。",
            "箱子被压坏了，里面的{product}也破损了。",
            "订单{order_ref}到货破损。",
            "{product}外壳裂了，应该是运输途中摔坏的",
            "包装破了，{product}有划痕，破损严重",
            "{date}收到的{product}，打开就是坏的",
            "快递把东西摔坏了，{product}不能用了",
            "{product}漏了，外箱破损",
            "拆开发现{product}变形了，有明显损坏",
            "{product}到的时候就坏了，箱子也压扁了",
            "订单{order_ref}的{product}破损了，有裂痕",
            "收到的{product}摔坏了，外包装破了",
            "打开包裹发现{product}碎了",
            "东西坏了，是运输过程中损坏的",
            "{product}有划痕还有裂缝，明显是运输损坏",
            "快递送来的{product}是破的，没法用",
            "外箱压坏了，{product}也变形损坏了",
        ),
    },
    "wrong_or_missing_item": {
        "en": (
            "I received the wrong item in order {order_ref}.",
            "One {product} is missing from my parcel.",
            "This is not what I ordered.",
            "You sent me the wrong colour of {product}.",
            "The parcel only had half of my items, the {product} is missing.",
            "Order {order_ref} is incomplete, something is missing.",
            "Got the wrong package, someone else's, instead of my {product}.",
            "The {product} in the box is the wrong model, not what I ordered.",
            "missing item: the {product} never came with the rest of my order",
            "Order {order_ref} is missing the {product}.",
            "I got the wrong {product}, this is not what I ordered.",
            "The package is missing an item, only part of my order arrived.",
            "You sent the wrong size {product}.",
            "Wrong item delivered, I ordered a {product}.",
            "Something is missing from order {order_ref}, the {product} isn't in the box.",
            "The parcel had someone else's items, wrong order.",
            "half my order is missing, where is the {product}",
        ),
        "zh": (
            "订单{order_ref}发错货了。",
            "包裹里少了一件{product}。",
            "这不是我买的东西。",
            "{product}颜色发错了，我买的不是这个",
            "少了{product}，只收到一部分",
            "订单{order_ref}少了东西，不全",
            "发错了，收到的型号和下单的{product}不一样",
            "快递发错了，是别人的东西，我的{product}呢",
            "少了一件，{product}没在箱子里",
            "订单{order_ref}少发了{product}",
            "收到的{product}不是我买的，发错了",
            "包裹里少了东西，{product}没收到",
            "尺码发错了，{product}不是我下单的那个",
            "漏发了一件{product}",
            "发错货了，我买的是{product}",
            "东西少了，订单{order_ref}不全",
            "收到的是别人的包裹，发错了",
        ),
    },
    "refund_request": {
        "en": (
            "I want a refund of {amount}.",
            "Please refund my money for order {order_ref}.",
            "Give me my {amount} back, I want a refund.",
            "I'd like my money back for the {product}, {amount} in total.",
            "Cancel order {order_ref} and refund the payment please.",
            "When will I get the refund of {amount}? I asked {date}.",
            "Please process a full refund to my account.",
            "I was charged {amount}, I want it refunded.",
            "requesting refund for the {product}, please return my payment",
            "Please refund {amount} to my card.",
            "I want my money back for order {order_ref}.",
            "Refund the {product} please, {amount}.",
            "I still haven't received my refund of {amount}.",
            "Can I get a refund for the {product}?",
            "Please return the {amount} you charged me.",
            "I'd like to cancel and get a full refund for {order_ref}.",
            "refund please, i paid {amount} for nothing",
        ),
        "zh": (
            "我要退款{amount}。",
            "请把订单{order_ref}退款给我。",
            "退钱，把{amount}退回来。",
            "{product}不要了，申请全额退款",
            "订单{order_ref}取消吧，申请退款",
            "{date}申请的退款{amount}什么时候到账？",
            "请尽快给我退钱",
            "扣了我{amount}，要求退款",
            "退款怎么还没到，{product}的钱退给我",
            "{product}申请退款，{amount}",
            "订单{order_ref}要退款，钱退回原账户",
            "退款{amount}什么时候到账？",
            "不要了，把钱退给我",
            "申请全额退款，订单{order_ref}",
            "请退还我{amount}",
            "我要求退款，{product}的钱还没退",
            "取消订单，退钱",
        ),
    },
    "return_or_exchange": {
        "en": (
            "I would like to return the {product}.",
            "Can I exchange the {product} for another size?",
            "How do I send this back for a return?",
            "The {product} doesn't fit, I want to exchange it for a bigger one.",
            "Please arrange a pickup to return order {order_ref}.",
            "I want to exchange my {product} for a different colour.",
            "Can I still return the {product} I bought {date}?",
            "Is there a return label for {order_ref}?",
            "want to return the {product} and get a replacement",
            "I want to return the {product}, how do I do it?",
            "Can I exchange order {order_ref} for a different model?",
            "Please help me return this {product}, it doesn't fit.",
            "How do I exchange the {product} for a new one?",
            "I'd like to send back the {product} I received {date}.",
            "Return request for {order_ref}: please schedule a pickup.",
            "Can I swap the {product} for another colour?",
            "need to return this and exchange for a bigger size",
        ),
        "zh": (
            "我想退货，{product}不要了。",
            "{product}能换货吗？",
            "退货怎么寄回去？",
            "{product}尺码不合适，想换货，换大一号",
            "订单{order_ref}申请退货，请安排上门取件",
            "{date}买的{product}还能退货吗",
            "想换个颜色，{product}可以换货吗",
            "七天无理由退货怎么操作？",
            "{product}不喜欢，想退货或者换一个",
            "{product}想退货，怎么操作？",
            "订单{order_ref}可以换货吗？",
            "我要退货，{product}不合适",
            "想把{product}换成别的颜色",
            "{date}收到的{product}，申请退货",
            "退换货流程是什么？",
            "{product}能换一个新的吗",
            "请安排上门取件，我要退货",
        ),
    },
    "installation_booking": {
        "en": (
            "Please book installation for my {product}.",
            "When can a technician come to install the {product}?",
            "I need someone to install and set up the {product}.",
            "Can you schedule installation {date}?",
            "The {product} arrived, please arrange installation and assembly at my home.",
            "Book an installation appointment for order {order_ref}.",
            "Who will mount the {product}? I need the installation service.",
            "I'd like to reserve a time slot to install the {product}.",
            "pls send a technician to install the {product}",
            "Can you send someone to install my {product}?",
            "I need installation service for order {order_ref}.",
            "Please arrange a technician visit {date} for installation.",
            "When will the installer come for the {product}?",
            "Book me an installation slot for the {product}.",
            "The {product} needs assembly, please schedule installation.",
            "No one has contacted me about installing the {product}.",
            "need the technician to set up and install it at home",
        ),
        "zh": (
            "请帮我预约{product}的安装。",
            "师傅什么时候上门安装{product}？",
            "需要人来安装{product}。",
            "{product}到了，麻烦安排师傅{date}来安装一下",
            "订单{order_ref}预约上门安装",
            "{product}需要组装安装，能派人来吗",
            "安装师傅一直没联系我，{product}什么时候能装",
            "想约个时间安装{product}",
            "请安排安装服务，订单{order_ref}",
            "{product}什么时候能上门安装？",
            "订单{order_ref}需要安装，请派师傅",
            "帮我约一下安装师傅，{date}有空",
            "{product}需要上门安装，请帮我预约",
            "预约安装{product}",
            "师傅能来组装一下{product}吗",
            "还没有人联系我安装{product}",
            "请安排师傅上门装一下",
        ),
    },
    "technical_consult": {
        "en": (
            "How do I configure the {product}?",
            "Quick question: what is the maximum load of the {product}?",
            "Is the {product} compatible with my system? Technical question.",
            "The manual is unclear, how do I reset the {product}?",
            "What voltage does the {product} need? Question about the specs.",
            "Can the {product} connect to wifi? How do I set it up?",
            "Question about the specs of {product}: what is the power rating?",
            "How should I use the {product} for the first time?",
            "does the {product} support 220V, I have a technical question",
            "How do I set up the {product}?",
            "What are the specs of the {product}?",
            "Is the {product} compatible with 110V?",
            "I have a technical question about the {product}.",
            "How do I reset the {product} to factory settings?",
            "Question: how much power does the {product} use?",
            "Can you explain how to configure the {product}?",
            "the manual doesn't say, what is the max capacity of the {product}",
        ),
        "zh": (
            "{product}怎么设置？",
            "请问{product}的最大负载参数是多少？",
            "咨询一下，{product}和我的系统兼容吗？",
            "说明书看不懂，{product}怎么恢复出厂设置",
            "{product}用多大的电压？参数在哪看",
            "{product}怎么连wifi？",
            "请问{product}的参数是多少，功率多大",
            "第一次用{product}，请问怎么操作",
            "咨询一下{product}的技术问题，支持220V吗",
            "{product}怎么使用？",
            "请问{product}的规格参数",
            "{product}支持什么电压？",
            "{product}怎么连接手机？",
            "{product}怎么恢复出厂设置？",
            "咨询一下{product}的功率是多少",
            "{product}的说明书在哪，怎么设置",
            "想问下{product}兼容性怎么样",
        ),
    },
    "address_change": {
        "en": (
            "Please change the delivery address for order {order_ref}.",
            "Can you change the address and deliver to my office instead?",
            "I moved, please update the address.",
            "Wrong address on {order_ref}, please correct it before shipping.",
            "Could you redirect the {product} to my new address?",
            "Please change the delivery date to {date}, I won't be home before that.",
            "Change the shipping address to my parents' place please.",
            "I need to modify the recipient address and phone number.",
            "can the courier drop the {product} at another address",
            "Can I change the address on order {order_ref}?",
            "Please update my delivery address, I moved.",
            "Deliver the {product} to a different address please.",
            "I entered the wrong address, please change it.",
            "Please send order {order_ref} to my office address instead.",
            "Change the recipient's phone number and address please.",
            "Can you reschedule the delivery to {date}? I'm away until then.",
            "update shipping address before the {product} ships",
        ),
        "zh": (
            "请修改订单{order_ref}的收货地址。",
            "地址能改到我公司吗？",
            "我搬家了，请更新地址。",
            "地址填错了，订单{order_ref}发货前帮我改一下",
            "{product}改寄到新地址可以吗",
            "{date}之前家里没人，能改地址或者改时间再送吗",
            "收货人电话和地址都要改",
            "麻烦把配送地址改成我父母家",
            "能不能换个地址送{product}",
            "订单{order_ref}地址要改一下",
            "请帮我修改收货地址",
            "{product}送到新地址吧，我搬家了",
            "地址写错了，能改吗？",
            "改一下收货人电话和地址",
            "能改成送到公司地址吗",
            "订单{order_ref}请改到{date}再送",
            "配送地址更新一下",
        ),
    },
    "invoice_request": {
        "en": (
            "I need an invoice for order {order_ref}.",
            "Please send the VAT invoice for {amount}.",
            "Can I get a receipt or invoice?",
            "Our company needs a fapiao (invoice) for the {product}.",
            "Please issue an invoice with our tax number for {order_ref}.",
            "The invoice for {amount} has the wrong company name, please reissue.",
            "Where can I download the e-invoice for my {product}?",
            "Accounting needs an invoice for the purchase made {date}.",
            "pls email me the invoice, total {amount}",
            "Please send me an invoice for the {product}.",
            "I need a VAT invoice for order {order_ref}.",
            "Can you issue an invoice for {amount}?",
            "Where is the invoice for my order?",
            "Please reissue the invoice with the correct tax number.",
            "Our company needs an official receipt for {order_ref}.",
            "Invoice please, for {amount}.",
            "can i get an e-invoice for the {product}",
        ),
        "zh": (
            "请开订单{order_ref}的发票。",
            "请给我开{amount}的增值税发票。",
            "能给个收据或发票吗？",
            "公司报销需要{product}的发票",
            "订单{order_ref}开发票（专票），税号我发给你",
            "发票抬头开错了，{amount}的那张请重开",
            "电子发票在哪里下载？买的是{product}",
            "{date}的订单需要开发票",
            "麻烦开一下发票，金额{amount}",
            "{product}的发票怎么开？",
            "请给订单{order_ref}开电子发票",
            "需要开{amount}的发票",
            "发票什么时候能开好？",
            "请开增值税专用发票，税号稍后提供",
            "公司报销，需要开发票",
            "订单{order_ref}的发票在哪里看",
            "帮我开一张发票，抬头是公司",
        ),
    },
    "praise": {
        "en": (
            "Thanks, the {product} arrived early!",
            "Great service, very fast delivery.",
            "Really happy with order {order_ref}, thanks!",
            "The courier was so friendly, thank you!",
            "Excellent packaging, the {product} is perfect, thanks.",
            "Love the {product}, great shopping experience.",
            "Quick delivery and great quality, well done team.",
            "Just wanted to say thanks, arrived {date} as promised.",
            "great service, super satisfied with my {product}",
            "Thank you, the {product} is great!",
            "Very fast delivery, thanks a lot.",
            "Super happy with the {product}, great service.",
            "The delivery was quick and the courier was friendly, thanks.",
            "Order {order_ref} arrived early, excellent service!",
            "Great quality {product}, thank you!",
            "Thanks for the fast shipping, very satisfied.",
            "love it, thanks for the great service",
        ),
        "zh": (
            "谢谢，{product}提前到了！",
            "服务很好，送货很快。",
            "订单{order_ref}非常满意。",
            "快递小哥很热情，点赞，谢谢",
            "包装很用心，{product}完好无损，好评",
            "{product}质量很好，下次还来买",
            "物流超快，{date}就收到了，谢谢",
            "客服态度很好，给你们五星",
            "很满意这次购物，{product}很棒",
            "{product}收到了，很满意，谢谢",
            "送货很快，服务很好，好评",
            "谢谢快递小哥，很准时",
            "订单{order_ref}提前到了，点赞",
            "{product}很好用，非常满意",
            "物流很快，包装很好，五星好评",
            "谢谢，这次购物体验很棒",
            "服务态度很好，谢谢你们",
        ),
    },
}

NO_INTENT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "en": (
        "Hello?",
        "Is anyone there?",
        "test",
        "Hi",
        "ok",
        "human agent please",
        "?",
        "hmm",
        "can I talk to a real person",
        "good afternoon",
        "are you a bot?",
        "thanks, bye",
    ),
    "zh": (
        "你好",
        "在吗？",
        "转人工",
        "有人吗",
        "嗯",
        "好的",
        "测试",
        "？",
        "人工客服",
        "知道了",
        "你是机器人吗",
        "好的，再见",
    ),
}
"""Messages with no intent (chit-chat, "talk to a human"): they teach the model to say nothing."""

PRODUCT_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "electronics": {
        "en": ("phone", "laptop", "tablet", "headphones", "smart watch"),
        "zh": ("手机", "笔记本电脑", "平板", "耳机", "智能手表"),
    },
    "home_appliances": {
        "en": ("washing machine", "fridge", "air conditioner", "dishwasher", "water heater"),
        "zh": ("洗衣机", "冰箱", "空调", "洗碗机", "热水器"),
    },
    "apparel": {
        "en": ("jacket", "dress", "shoes", "jeans", "sweater"),
        "zh": ("外套", "连衣裙", "鞋子", "牛仔裤", "毛衣"),
    },
    "beauty": {
        "en": ("lipstick", "face cream", "perfume", "shampoo", "serum"),
        "zh": ("口红", "面霜", "香水", "洗发水", "精华液"),
    },
    "fresh_food": {
        "en": ("fruit box", "seafood", "steak", "cherries", "milk"),
        "zh": ("水果", "海鲜", "牛排", "车厘子", "牛奶"),
    },
    "grocery": {
        "en": ("rice", "cooking oil", "snacks", "coffee", "tea"),
        "zh": ("大米", "食用油", "零食", "咖啡", "茶叶"),
    },
    "furniture": {
        "en": ("sofa", "bed frame", "wardrobe", "desk", "dining table"),
        "zh": ("沙发", "床架", "衣柜", "书桌", "餐桌"),
    },
    "books": {
        "en": ("book", "textbook", "novel", "dictionary", "comic set"),
        "zh": ("书", "教材", "小说", "词典", "漫画"),
    },
    "toys": {
        "en": ("toy", "lego set", "doll", "puzzle", "toy car"),
        "zh": ("玩具", "积木", "娃娃", "拼图", "玩具车"),
    },
    "sports": {
        "en": ("bike", "treadmill", "yoga mat", "tent", "dumbbells"),
        "zh": ("自行车", "跑步机", "瑜伽垫", "帐篷", "哑铃"),
    },
    "industrial_supplies": {
        "en": ("pump", "drill", "generator", "valve", "compressor"),
        "zh": ("水泵", "电钻", "发电机", "阀门", "空压机"),
    },
    "health": {
        "en": ("vitamins", "blood pressure monitor", "masks", "thermometer", "massager"),
        "zh": ("维生素", "血压计", "口罩", "体温计", "按摩仪"),
    },
}
"""Product words per category and language; evaluation holds the last word of each out."""

CONNECTIVES: dict[str, tuple[str, ...]] = {
    "en": (" Also, ", " And ", " Plus, ", " By the way, ", " Another thing: ", " "),
    "zh": ("另外，", "还有，", "而且", "顺便问一下，", "。另外", ""),
}
OPENERS: dict[str, tuple[str, ...]] = {
    "en": (
        "Hi, ",
        "Hello, ",
        "Dear support, ",
        "hey ",
        "Good morning. ",
        "Hi there, ",
        "Excuse me, ",
        "Hello team, ",
    ),
    "zh": (
        "你好，",
        "您好，",
        "客服你好，",
        "在吗？",
        "亲，",
        "客服，",
        "请问一下，",
        "打扰一下，",
    ),
}
CLOSERS: dict[str, tuple[str, ...]] = {
    "en": (
        " Please help.",
        " Please reply asap!",
        " Regards.",
        " Urgent!!",
        " Thx",
        " Thanks in advance.",
        " Waiting for your reply.",
    ),
    "zh": ("麻烦尽快处理！", "请回复。", "急！！", "谢谢", "等你们回复", "辛苦了", "尽快回复我"),
}
EMOJI = ("😡", "🙏", "😊", "👍", "😤", "😭", "🙂")
ZH_MIXED_ENGLISH = {"订单": "order", "退款": "refund", "快递": "express", "发票": "invoice"}
_EN_NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_ZH_NUMBER_WORDS = ("一", "两", "三", "四", "五", "六", "七", "八", "九", "十")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MAX_CLAUSES = 3


def render_ticket_texts(tickets: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Write the text of each ticket from its intents.

    Args:
        tickets: one row per ticket with ``labels`` (``|``-joined intents, may be empty),
            ``language`` (``en``/``zh``), ``order_ref`` (the order's reference as the customer
            writes it), ``category``, ``amount`` (money the ticket may mention) and
            ``waited_days``; optional ``created_at`` (dates in the text are days before it).
        rng: the world's random generator. All random draws are made up front, as arrays.

    Returns:
        A frame aligned with ``tickets`` with ``text`` and ``template_id``
        (``intent.lang.k`` joined by ``|``).
    """
    n = len(tickets)
    if n == 0:
        return pd.DataFrame({"text": [], "template_id": []}, index=tickets.index, dtype=object)
    draws = {
        "template": rng.random((n, _MAX_CLAUSES)),
        "connective": rng.integers(0, 1 << 30, (n, _MAX_CLAUSES)),
        "product": rng.integers(0, 1 << 30, n),
        "money_fmt": rng.integers(0, 5, n),
        "duration_fmt": rng.integers(0, 4, n),
        "date_fmt": rng.integers(0, 3, n),
        "date_back": rng.integers(0, 6, n),
        "noise": rng.random((n, 8)),
        "pick": rng.integers(0, 1 << 30, (n, 4)),
    }
    created = (
        pd.to_datetime(tickets["created_at"], utc=True)
        if "created_at" in tickets
        else pd.Series(pd.Timestamp("2025-06-15", tz="UTC"), index=tickets.index)
    )
    waited = pd.to_numeric(tickets["waited_days"], errors="coerce").fillna(1.0).to_numpy()
    dates = pd.DatetimeIndex(created - pd.to_timedelta(np.ceil(waited) + draws["date_back"], "D"))
    months, days = dates.month.to_numpy(), dates.day.to_numpy()
    amounts = pd.to_numeric(tickets["amount"], errors="coerce").fillna(0.0).to_numpy()
    texts: list[str] = []
    template_ids: list[str] = []
    columns = zip(
        tickets["labels"].tolist(),
        tickets["language"].tolist(),
        tickets["order_ref"].tolist(),
        tickets["category"].tolist(),
        strict=True,
    )
    for i, (labels, language, order_ref, category) in enumerate(columns):
        slots = {
            "order_ref": str(order_ref),
            "product": _pick(_products(category, language), draws["product"][i]),
            "amount": _money(amounts[i], language, draws["money_fmt"][i]),
            "duration": _duration(waited[i], language, draws["duration_fmt"][i]),
            "date": _date(months[i], days[i], language, draws["date_fmt"][i]),
        }
        text, ids = _compose(split_labels(labels), language, slots, draws, i)
        texts.append(_add_noise(text, language, draws["noise"][i], draws["pick"][i]))
        template_ids.append(LABEL_SEPARATOR.join(ids))
    return pd.DataFrame({"text": texts, "template_id": template_ids}, index=tickets.index)


def synthetic_tickets(n: int, seed: int = 0, *, no_intent_share: float = 0.03) -> pd.DataFrame:
    """A stand-alone tickets frame in the TICKETS contract (plus ``template_id``), for tests,
    smoke runs and NLP training when no synthetic world is at hand.

    Intents are drawn with realistic frequencies; about a quarter of tickets carry two or three
    intents, ``no_intent_share`` carry none. Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    weights = np.array([22, 14, 8, 7, 9, 8, 5, 5, 5, 5, 6], dtype=float)
    intents = np.array(INTENT_NAMES)
    n_intents = rng.choice([1, 2, 3], size=n, p=[0.74, 0.22, 0.04])
    n_intents[rng.random(n) < no_intent_share] = 0
    # Weighted sampling without replacement for every row at once (Gumbel top-k).
    keys = np.log(weights) + rng.gumbel(size=(n, len(intents)))
    ranked = intents[np.argsort(-keys, axis=1)[:, :_MAX_CLAUSES]]
    labels = [
        LABEL_SEPARATOR.join(row[:k]) for row, k in zip(ranked.tolist(), n_intents, strict=True)
    ]
    order_numbers = rng.integers(1, 10_000_000, n)
    created = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 365 * 24 * 3600, n), unit="s"
    )
    frame = pd.DataFrame(
        {
            "ticket_id": [f"T{i:08d}" for i in range(n)],
            "order_id": [f"O{k:08d}" for k in order_numbers],
            "customer_id": [f"C{k:07d}" for k in rng.integers(0, n // 3 + 1, n)],
            "created_at": created,
            "channel": rng.choice(["chat", "phone", "email", "app"], n),
            "language": rng.choice(["en", "zh"], n, p=[0.4, 0.6]),
            "labels": labels,
            "category": rng.choice(CATEGORIES, n),
            "amount": np.round(rng.lognormal(5.5, 1.0, n), 0),
            "waited_days": rng.gamma(2.0, 1.5, n),
        }
    )
    frame["order_ref"] = frame["order_id"]
    rendered = render_ticket_texts(frame, rng)
    frame["text"] = rendered["text"]
    frame["template_id"] = rendered["template_id"]
    return frame.drop(columns=["order_ref", "category", "amount", "waited_days"])


def _compose(
    intents: list[str], language: str, slots: dict[str, str], draws: dict, i: int
) -> tuple[str, list[str]]:
    """One clause per intent, joined by connectives; an opener/closer sometimes."""
    if not intents:
        options = NO_INTENT_TEMPLATES[language]
        k = int(draws["template"][i, 0] * len(options))
        return options[k], [f"none.{language}.{k}"]
    clauses, ids = [], []
    for j, intent in enumerate(intents[:_MAX_CLAUSES]):
        options = TEMPLATES[intent][language]
        k = int(draws["template"][i, j] * len(options))
        clause = options[k].format(**slots)
        if j > 0:
            connective = _pick(CONNECTIVES[language], draws["connective"][i, j])
            if language == "en" and connective.strip() in {"And", "Also,", "Plus,", "By the way,"}:
                clause = clause[:1].lower() + clause[1:]
            clause = connective + clause
        clauses.append(clause)
        ids.append(f"{intent}.{language}.{k}")
    text = "".join(clauses)
    noise = draws["noise"][i]
    if noise[6] < 0.25:
        text = _pick(OPENERS[language], draws["pick"][i, 2]) + text
    if noise[7] < 0.2:
        text = text + _pick(CLOSERS[language], draws["pick"][i, 3])
    return text, ids


def _add_noise(text: str, language: str, noise: np.ndarray, pick: np.ndarray) -> str:
    """Typos, missing punctuation, caps, emoji, repeated punctuation, English inside Chinese."""
    if language == "zh" and noise[0] < 0.2:
        word = _pick(tuple(ZH_MIXED_ENGLISH), pick[0])
        text = text.replace(word, ZH_MIXED_ENGLISH[word])
    if noise[1] < 0.15 and len(text) > 6:
        position = 1 + int(pick[1]) % (len(text) - 2)
        if language == "en" and noise[1] < 0.07 and text[position : position + 2].isalpha():
            text = text[:position] + text[position + 1] + text[position] + text[position + 2 :]
        elif text[position].isalpha():
            text = text[:position] + text[position + 1 :]
    if noise[2] < 0.15:
        text = text.translate(_PUNCTUATION_DROP)
    if language == "en" and noise[3] < 0.05:
        text = text.upper()
    if noise[4] < 0.08:
        text = text + ("!!!" if language == "en" else "！！！")
    if noise[5] < 0.08:
        text = text + _pick(EMOJI, pick[0] >> 3)
    return text


_PUNCTUATION_DROP = str.maketrans("", "", ".,?!;:，。？！；：")


def _pick(options: tuple[str, ...], draw: int) -> str:
    return options[int(draw) % len(options)]


def _products(category: str, language: str) -> tuple[str, ...]:
    words = PRODUCT_WORDS.get(category)
    if words is None:
        return ("item",) if language == "en" else ("商品",)
    return words[language]


def _money(amount: float, language: str, fmt: int) -> str:
    value = f"{amount:.0f}"
    if language == "en":
        return (f"¥{value}", f"{value} yuan", f"RMB {value}", f"{amount:,.0f} RMB", f"¥{value}")[
            fmt
        ]
    return (f"{value}元", f"¥{value}", f"{value}块", f"RMB{value}", f"人民币{value}元")[fmt]


def _duration(days: float, language: str, fmt: int) -> str:
    days_int = max(1, round(days))
    if language == "en":
        if fmt == 1 and days_int <= 10:
            word = _EN_NUMBER_WORDS[days_int - 1]
            return f"{word} day{'s' if days_int != 1 else ''}"
        if fmt == 2 and days_int <= 4:
            return f"{days_int * 24} hours"
        if fmt == 3 and days_int % 7 == 0:
            return f"{days_int // 7} week{'s' if days_int != 7 else ''}"
        return f"{days_int} day{'s' if days_int != 1 else ''}"
    if fmt == 1 and days_int <= 10:
        return f"{_ZH_NUMBER_WORDS[days_int - 1]}天"
    if fmt == 2 and days_int <= 4:
        return f"{days_int * 24}小时"
    if fmt == 3 and days_int % 7 == 0:
        return f"{days_int // 7}周"
    return f"{days_int}天"


def _date(month: int, day: int, language: str, fmt: int) -> str:
    if language == "en":
        name = _MONTHS[month - 1]
        return (f"on {day} {name}", f"on {name} {day}", f"on {day:02d}/{month:02d}")[fmt]
    return (f"{month}月{day}日", f"{month}月{day}号", f"{month}月{day}日")[fmt]
