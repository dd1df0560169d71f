-- The ads database: MySQL DDL with Chinese comments.
-- ads_summary is kept exactly as the seed document defines it (four counts as varchar(30)).
-- ads_summary.account -> ads_account.account is a logical key (see relations.json): the seed's
-- table declares no foreign key, so neither do we.

CREATE TABLE `ads_summary` (
  `id` int NOT NULL AUTO_INCREMENT COMMENT 'ads汇总表',
  `update_time` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP COMMENT '更新时间',
  `desc` varchar(500) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL DEFAULT NULL COMMENT '文本',
  `account` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL DEFAULT NULL COMMENT '用户',
  `label` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL DEFAULT NULL COMMENT '标签',
  `star` varchar(30) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL DEFAULT NULL COMMENT '点赞数量',
  `comment` varchar(30) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL DEFAULT NULL COMMENT '评论数量',
  `collection` varchar(30) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL DEFAULT NULL COMMENT '收藏数量',
  `share` varchar(30) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NULL DEFAULT NULL COMMENT '分享数量',
  `create_time` timestamp NULL DEFAULT NULL COMMENT '数据抓取时间',
  PRIMARY KEY (`id`) USING BTREE
) ENGINE = InnoDB AUTO_INCREMENT = 190447 CHARACTER SET = utf8mb4 COLLATE = utf8mb4_general_ci COMMENT = 'ads 统计数据表' ROW_FORMAT = Dynamic;

CREATE TABLE `ads_account` (
  `account` varchar(255) NOT NULL COMMENT '达人账号,与ads_summary.account对应',
  `nickname` varchar(100) NOT NULL COMMENT '达人昵称',
  `platform` varchar(20) NOT NULL COMMENT '所在平台:小红书/抖音/快手/B站',
  `category` varchar(20) NOT NULL COMMENT '内容领域:美妆/穿搭/美食/母婴/数码/家居/旅行/健身',
  `fans` int NOT NULL COMMENT '粉丝数',
  `city` varchar(50) NULL DEFAULT NULL COMMENT '所在城市',
  `is_verified` tinyint NOT NULL DEFAULT 0 COMMENT '是否认证:1是 0否',
  `created_at` date NOT NULL COMMENT '入驻日期',
  PRIMARY KEY (`account`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci COMMENT = '达人账号表';

CREATE TABLE `ads_campaign` (
  `campaign_id` int NOT NULL COMMENT '投放计划ID',
  `campaign_name` varchar(200) NOT NULL COMMENT '投放计划名称',
  `brand` varchar(100) NOT NULL COMMENT '品牌',
  `account` varchar(255) NOT NULL COMMENT '合作达人账号',
  `platform` varchar(20) NOT NULL COMMENT '投放平台:小红书/抖音/快手/B站',
  `budget` decimal(12,2) NOT NULL COMMENT '预算,元',
  `start_date` date NOT NULL COMMENT '开始日期',
  `end_date` date NOT NULL COMMENT '结束日期',
  `status` varchar(20) NOT NULL COMMENT '状态:投放中/已结束/已暂停',
  PRIMARY KEY (`campaign_id`),
  FOREIGN KEY (`account`) REFERENCES `ads_account` (`account`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci COMMENT = '广告投放计划表';

CREATE TABLE `ads_material` (
  `material_id` int NOT NULL COMMENT '素材ID',
  `campaign_id` int NOT NULL COMMENT '所属投放计划ID',
  `user_id` int NOT NULL COMMENT '投放渠道用户ID',
  `title` varchar(200) NOT NULL COMMENT '素材标题',
  `media_type` varchar(10) NOT NULL COMMENT '素材类型:图文/视频',
  `created_at` datetime NOT NULL COMMENT '创建时间',
  PRIMARY KEY (`material_id`),
  FOREIGN KEY (`campaign_id`) REFERENCES `ads_campaign` (`campaign_id`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci COMMENT = '投放素材表';

CREATE TABLE `ads_material_hourly` (
  `id` bigint NOT NULL COMMENT '记录ID',
  `user_id` int NOT NULL COMMENT '投放渠道用户ID',
  `material_id` int NOT NULL COMMENT '素材ID',
  `time_slot` varchar(40) NOT NULL COMMENT '时间段,形如2025-03-01 10:00 - 11:00',
  `impressions` int NOT NULL COMMENT '展示数',
  `clicks` int NOT NULL COMMENT '点击数',
  `activations` int NOT NULL COMMENT '激活数',
  `cost` decimal(10,2) NOT NULL COMMENT '消耗,元',
  PRIMARY KEY (`id`),
  FOREIGN KEY (`material_id`) REFERENCES `ads_material` (`material_id`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci COMMENT = '素材小时效果表';

CREATE TABLE `ads_order` (
  `order_id` bigint NOT NULL COMMENT '订单ID',
  `campaign_id` int NOT NULL COMMENT '投放计划ID',
  `material_id` int NOT NULL COMMENT '带来成交的素材ID',
  `order_time` datetime NOT NULL COMMENT '下单时间',
  `amount` decimal(10,2) NOT NULL COMMENT '成交金额,元',
  `quantity` int NOT NULL COMMENT '购买件数',
  `is_refunded` tinyint NOT NULL DEFAULT 0 COMMENT '是否退款:1是 0否',
  PRIMARY KEY (`order_id`),
  FOREIGN KEY (`campaign_id`) REFERENCES `ads_campaign` (`campaign_id`),
  FOREIGN KEY (`material_id`) REFERENCES `ads_material` (`material_id`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci COMMENT = '带货订单表';
